//! The sync pool's queue: a mutex-guarded deque and a condition variable.
//!
//! Why not a channel: a blocking `crossbeam_channel` receive first spins and then calls
//! `sched_yield` a few times before it parks. With dozens of pool threads going idle after
//! every job while other threads are runnable, those yields were context switches: `perf` put
//! a quarter of the pool threads' CPU in the kernel's task switching on the no-LM route. A
//! waiting thread here parks at once, and a job wakes exactly one parked thread, only when
//! one is parked.

use std::collections::VecDeque;
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
}

pub(crate) struct JobQueue<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

impl<T> JobQueue<T> {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                closed: false,
                parked: 0,
            }),
            ready: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding this lock leaves the deque consistent: keep serving.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queue a job; returns it back if the queue is closed.
    pub(crate) fn push(&self, job: T) -> Result<(), T> {
        let mut state = self.lock();
        if state.closed {
            return Err(job);
        }
        state.jobs.push_back(job);
        let wake = state.parked > 0;
        drop(state);
        if wake {
            self.ready.notify_one();
        }
        Ok(())
    }

    pub(crate) fn try_recv(&self) -> Option<T> {
        self.lock().jobs.pop_front()
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
                        assert!(queue.push(i).is_ok());
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
        queue.push(1).ok();
        queue.close();
        assert!(queue.push(2).is_err(), "a closed queue refuses jobs");
        assert!(matches!(queue.recv_timeout(Duration::from_secs(1)), Recv::Job(1)));
        assert!(matches!(queue.recv_timeout(Duration::from_secs(1)), Recv::Closed));
    }
}
