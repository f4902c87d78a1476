//! The sync pool's queue: a mutex-guarded deque and a condition variable.
//!
//! Why not a channel: a blocking `crossbeam_channel` receive first spins and then calls
//! `sched_yield` a few times before it parks. With dozens of pool threads going idle after
//! every job while other threads are runnable, those yields were context switches: `perf` put
//! a quarter of the pool threads' CPU in the kernel's task switching on the no-LM route. A
//! waiting thread here parks at once, and a job wakes exactly one parked thread, only when
//! one is parked.
//!
//! Riders: a thread running a job of a quick program (one that has been finishing in well under
//! a millisecond) will look at the queue again as soon as it is done, holding the GIL. A quick
//! job pushed while such a thread runs does not wake a parked thread, which would only wait
//! for the GIL and cost two context switches: the rider takes it next. The rider leaves (and
//! the count drops) in the same critical section as its last look, so a job queued for a rider
//! is always seen by one; if the riders finish nothing for a while (a job turned out slow), the
//! submitter's fallback ([`JobQueue::nudge`]) wakes a parked thread.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub(crate) enum Recv<T> {
    Job(T),
    /// Nothing arrived within the timeout.
    Timeout,
    /// Closed and drained: the pool is stopping.
    Closed,
}

struct State<T> {
    jobs: VecDeque<T>,
    closed: bool,
    /// Threads parked in [`JobQueue::recv_timeout`]; a push wakes one only if there is one.
    parked: usize,
    /// Threads running a quick job that will look at the queue again when done.
    riders: usize,
}

pub(crate) struct JobQueue<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
    /// Jobs riders have finished: while it moves, jobs left for them are being taken.
    rides: AtomicU64,
}

impl<T> JobQueue<T> {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                closed: false,
                parked: 0,
                riders: 0,
            }),
            ready: Condvar::new(),
            rides: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding this lock leaves the deque consistent: keep serving.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queue a job; returns it back if the queue is closed. `Ok(true)`: the job was left for a
    /// rider (`quick` and one is running) instead of waking a parked thread.
    pub(crate) fn push(&self, job: T, quick: bool) -> Result<bool, T> {
        let mut state = self.lock();
        if state.closed {
            return Err(job);
        }
        state.jobs.push_back(job);
        let for_rider = quick && state.riders > 0;
        let wake = state.parked > 0 && !for_rider;
        drop(state);
        if wake {
            self.ready.notify_one();
        }
        Ok(for_rider)
    }

    /// Become a rider (about to run a quick job): pushes of quick jobs count on this thread.
    pub(crate) fn ride(&self) {
        self.lock().riders += 1;
    }

    /// The next queued job, if any; `riding`: this thread was a rider, and stops being one in
    /// the same critical section as this look.
    pub(crate) fn try_recv(&self, riding: bool) -> Option<T> {
        let mut state = self.lock();
        if riding {
            state.riders -= 1;
            self.rides.fetch_add(1, Ordering::Relaxed);
        }
        state.jobs.pop_front()
    }

    /// How many jobs riders have finished so far.
    pub(crate) fn rides(&self) -> u64 {
        self.rides.load(Ordering::Relaxed)
    }

    /// A job left for a rider is still waiting: wake a parked thread if any job is queued.
    pub(crate) fn nudge(&self) {
        let state = self.lock();
        let wake = state.parked > 0 && !state.jobs.is_empty();
        drop(state);
        if wake {
            self.ready.notify_one();
        }
    }

    /// The next job, waiting up to `timeout`. Queued jobs are still handed out after close.
    pub(crate) fn recv_timeout(&self, timeout: Duration) -> Recv<T> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if let Some(job) = state.jobs.pop_front() {
                return Recv::Job(job);
            }
            if state.closed {
                return Recv::Closed;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) else {
                return Recv::Timeout;
            };
            state.parked += 1;
            let (next, _) = self
                .ready
                .wait_timeout(state, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            state = next;
            state.parked -= 1;
        }
    }

    /// Refuse new jobs and wake every parked thread (they drain what is queued, then stop).
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn every_job_reaches_exactly_one_consumer() {
        const PRODUCERS: usize = 4;
        const JOBS: usize = 20_000;
        let queue = Arc::new(JobQueue::new());
        let consumers: Vec<_> = (0..6)
            .map(|_| {
                let queue = queue.clone();
                std::thread::spawn(move || {
                    let mut got = 0usize;
                    loop {
                        match queue.recv_timeout(Duration::from_secs(10)) {
                            Recv::Job(_) => got += 1,
                            Recv::Closed => return got,
                            Recv::Timeout => panic!("a queued job was never handed out"),
                        }
                    }
                })
            })
            .collect();
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|_| {
                let queue = queue.clone();
                std::thread::spawn(move || {
                    for i in 0..JOBS {
                        assert!(queue.push(i, false).is_ok());
                    }
                })
            })
            .collect();
        for producer in producers {
            producer.join().unwrap();
        }
        queue.close();
        let total: usize = consumers.into_iter().map(|c| c.join().unwrap()).sum();
        assert_eq!(total, PRODUCERS * JOBS);
    }

    #[test]
    fn times_out_when_empty_and_drains_after_close() {
        let queue = JobQueue::new();
        assert!(matches!(queue.recv_timeout(Duration::from_millis(20)), Recv::Timeout));
        queue.push(1, false).ok();
        queue.close();
        assert!(queue.push(2, false).is_err(), "a closed queue refuses jobs");
        assert!(matches!(queue.recv_timeout(Duration::from_secs(1)), Recv::Job(1)));
        assert!(matches!(queue.recv_timeout(Duration::from_secs(1)), Recv::Closed));
    }

    /// A thread waiting for a job, returned once it is parked.
    fn park_one(queue: &Arc<JobQueue<i32>>) -> std::thread::JoinHandle<Recv<i32>> {
        let waiter = {
            let queue = queue.clone();
            std::thread::spawn(move || queue.recv_timeout(Duration::from_secs(10)))
        };
        while queue.lock().parked == 0 {
            std::thread::yield_now();
        }
        waiter
    }

    #[test]
    fn a_quick_job_waits_for_the_rider_and_a_nudge_wakes_a_parked_thread() {
        let queue = Arc::new(JobQueue::new());
        let parked = park_one(&queue);
        queue.ride();
        assert_eq!(queue.push(1, true).ok(), Some(true), "left for the rider");
        assert_eq!(
            queue.push(2, false).ok(),
            Some(false),
            "a slow program's job wakes a thread"
        );
        let woken = parked.join().unwrap();
        assert!(matches!(woken, Recv::Job(1)), "the woken thread takes the oldest job");
        assert_eq!(
            queue.try_recv(true),
            Some(2),
            "the rider's last look sees what was left for it"
        );
        assert_eq!(queue.push(3, true).ok(), Some(false), "no rider left: wake as usual");
        assert_eq!(queue.try_recv(false), Some(3));

        // The rider's job turned out slow: the submitter's fallback wakes a parked thread.
        let parked = park_one(&queue);
        queue.ride();
        assert_eq!(queue.push(4, true).ok(), Some(true));
        queue.nudge();
        assert!(matches!(parked.join().unwrap(), Recv::Job(4)));
        assert_eq!(queue.try_recv(true), None);
        assert_eq!(queue.lock().riders, 0);
        assert_eq!(queue.rides(), 2, "each rider's finished job is counted");
    }
}
