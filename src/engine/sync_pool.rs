//! The GIL-aware thread pool that runs `forward` programs.
//!
//! Threads attach to the interpreter once and detach only while waiting for a job, so a job
//! costs no thread-state creation. A thread that finishes a job and finds another queued keeps
//! the interpreter, and a job of a quick program (see `job_queue.rs`, riders) is left for it
//! instead of waking another thread to wait for the GIL. The pool grows on demand up to its
//! maximum (a DSPy `forward` mostly waits on the LM with the GIL released, so it is sized for
//! I/O concurrency) and idle threads exit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::job_queue::{JobQueue, Recv};
use super::outcome::{deliver, describe_error, internal_error};
use super::{BodyKind, JobContext};

/// A program whose last run took less than this is quick: its next jobs may wait for a rider.
const QUICK_RUN: Duration = Duration::from_millis(1);
/// How often a job left for a rider checks that riders are finishing jobs; if none finished in
/// that time (the rider's job turned out slow, say waiting on an LM), a thread is woken for it.
pub(crate) const RIDER_WAIT: Duration = Duration::from_millis(2);

struct SyncJob {
    job: JobContext,
    body: Bytes,
    kind: BodyKind,
}

/// Numbers for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PoolStats {
    pub(crate) threads: usize,
    pub(crate) busy: usize,
    pub(crate) queued: usize,
    pub(crate) max_threads: usize,
    pub(crate) gil_wait_seconds: f64,
    /// Jobs left for a rider instead of waking a thread, and the times such a job found the
    /// riders stuck and woke one.
    pub(crate) rider_jobs: u64,
    pub(crate) rider_fallbacks: u64,
}

struct Shared {
    queue: JobQueue<SyncJob>,
    run_sync: Py<PyAny>,
    routes: Arc<Vec<Py<PyAny>>>,
    /// Per route: did its last run finish within [`QUICK_RUN`]?
    quick: Vec<AtomicBool>,
    max_threads: usize,
    idle_timeout: Duration,
    threads: AtomicUsize,
    idle: AtomicUsize,
    queued: AtomicUsize,
    gil_wait_nanos: AtomicU64,
    rider_jobs: AtomicU64,
    rider_fallbacks: AtomicU64,
    handles: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

pub(crate) struct SyncPool {
    shared: Arc<Shared>,
}

impl SyncPool {
    pub(crate) fn new(run_sync: Py<PyAny>, routes: Arc<Vec<Py<PyAny>>>, max_threads: usize) -> Self {
        let shared = Arc::new(Shared {
            queue: JobQueue::new(),
            run_sync,
            quick: routes.iter().map(|_| AtomicBool::new(false)).collect(),
            routes,
            max_threads: max_threads.max(1),
            idle_timeout: Duration::from_secs(60),
            threads: AtomicUsize::new(0),
            idle: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
            gil_wait_nanos: AtomicU64::new(0),
            rider_jobs: AtomicU64::new(0),
            rider_fallbacks: AtomicU64::new(0),
            handles: std::sync::Mutex::default(),
        });
        Self { shared }
    }

    /// Queue a job. `Some`: it was left for a rider; the submitter checks on it with
    /// [`RiderFallback::riders_stuck`] every [`RIDER_WAIT`] until the reply comes.
    pub(crate) fn submit(&self, job: JobContext, body: Bytes, kind: BodyKind) -> Option<RiderFallback> {
        let quick = self.shared.quick[job.route].load(Ordering::Relaxed);
        let queued = self.shared.queued.fetch_add(1, Ordering::AcqRel) + 1;
        match self.shared.queue.push(SyncJob { job, body, kind }, quick) {
            Ok(true) => {
                self.shared.rider_jobs.fetch_add(1, Ordering::Relaxed);
                Some(RiderFallback {
                    seen_rides: self.shared.queue.rides(),
                    shared: self.shared.clone(),
                })
            }
            Ok(false) => {
                grow_if_short(&self.shared, queued);
                None
            }
            Err(_) => {
                // Stopping: the job is dropped, so its handler sees the engine go away.
                self.shared.queued.fetch_sub(1, Ordering::AcqRel);
                None
            }
        }
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let s = &self.shared;
        let threads = s.threads.load(Ordering::Relaxed);
        PoolStats {
            threads,
            busy: threads.saturating_sub(s.idle.load(Ordering::Relaxed)),
            queued: s.queued.load(Ordering::Relaxed),
            max_threads: s.max_threads,
            gil_wait_seconds: Duration::from_nanos(s.gil_wait_nanos.load(Ordering::Relaxed)).as_secs_f64(),
            rider_jobs: s.rider_jobs.load(Ordering::Relaxed),
            rider_fallbacks: s.rider_fallbacks.load(Ordering::Relaxed),
        }
    }

    /// Let queued jobs finish for up to `wait`, then join the threads. A `forward` cannot be
    /// interrupted, so threads still busy after `wait` are left to end with the process.
    /// Call detached.
    pub(crate) fn stop_and_join(self, wait: Duration) {
        self.shared.queue.close();
        let deadline = Instant::now() + wait;
        while self.shared.threads.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let still_running = self.shared.threads.load(Ordering::Acquire);
        if still_running > 0 {
            tracing::warn!("{still_running} sync job(s) still running at shutdown; not waiting for them");
            return;
        }
        let handles = std::mem::take(&mut *self.shared.handles.lock().expect("pool handles lock"));
        for handle in handles {
            handle.join().ok();
        }
    }
}

/// Grow when more jobs wait than threads are idle (granian #873: compare with idle ones).
fn grow_if_short(shared: &Arc<Shared>, queued: usize) {
    if queued <= shared.idle.load(Ordering::Acquire) {
        return;
    }
    let mut current = shared.threads.load(Ordering::Acquire);
    loop {
        if current >= shared.max_threads {
            return;
        }
        match shared
            .threads
            .compare_exchange(current, current + 1, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => break,
            Err(actual) => current = actual,
        }
    }
    let worker = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("dspy-sync".into())
        .spawn(move || worker.run());
    match spawned {
        Ok(handle) => {
            let mut handles = shared.handles.lock().expect("pool handles lock");
            // Dropping the handle of a thread that already exited (reaped when idle) frees it.
            handles.retain(|h| !h.is_finished());
            handles.push(handle);
        }
        Err(err) => {
            shared.threads.fetch_sub(1, Ordering::AcqRel);
            tracing::error!("could not start a sync worker thread: {err}");
        }
    }
}

/// The submitter's way to stop waiting for riders that are stuck.
pub(crate) struct RiderFallback {
    shared: Arc<Shared>,
    seen_rides: u64,
}

impl RiderFallback {
    /// True, after waking a parked thread (or starting one) for the queued jobs, when riders
    /// finished no job since the last call: their jobs are slow, not the queue long.
    pub(crate) fn riders_stuck(&mut self) -> bool {
        let rides = self.shared.queue.rides();
        if rides != self.seen_rides {
            self.seen_rides = rides;
            return false;
        }
        self.shared.rider_fallbacks.fetch_add(1, Ordering::Relaxed);
        self.shared.queue.nudge();
        grow_if_short(&self.shared, self.shared.queued.load(Ordering::Acquire));
        true
    }
}

impl Shared {
    fn run(&self) {
        Python::attach(|py| {
            loop {
                self.idle.fetch_add(1, Ordering::AcqRel);
                let waited = py.detach(|| match self.queue.recv_timeout(self.idle_timeout) {
                    Recv::Job(job) => Recv::Job((job, Instant::now())),
                    Recv::Timeout => Recv::Timeout,
                    Recv::Closed => Recv::Closed,
                });
                self.idle.fetch_sub(1, Ordering::AcqRel);
                match waited {
                    Recv::Job((job, received)) => {
                        self.record_gil_wait(received);
                        // Keep the interpreter while more work is queued.
                        let mut next = Some(job);
                        while let Some(job) = next {
                            let riding = self.quick[job.job.route].load(Ordering::Relaxed);
                            if riding {
                                self.queue.ride();
                            }
                            self.run_job(py, job);
                            next = self.queue.try_recv(riding);
                        }
                    }
                    Recv::Timeout => {
                        // Reap an idle thread, but only if it is not the last one.
                        let threads = self.threads.load(Ordering::Acquire);
                        if threads > 1
                            && self
                                .threads
                                .compare_exchange(threads, threads - 1, Ordering::AcqRel, Ordering::Acquire)
                                .is_ok()
                        {
                            return;
                        }
                    }
                    Recv::Closed => {
                        self.threads.fetch_sub(1, Ordering::AcqRel);
                        return;
                    }
                }
            }
        });
    }

    fn record_gil_wait(&self, since: Instant) {
        let nanos = u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.gil_wait_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    fn run_job(&self, py: Python<'_>, SyncJob { job, body, kind }: SyncJob) {
        self.queued.fetch_sub(1, Ordering::AcqRel);
        if job.reply.is_closed() {
            // The client left (or timed out) while the job was queued: nobody will read it.
            return;
        }
        let index = job.route;
        let route = self.routes[index].bind(py);
        let started = Instant::now();
        let result = self.run_sync.call1(py, (route, PyBytes::new(py, &body), kind.code()));
        self.quick[index].store(started.elapsed() < QUICK_RUN, Ordering::Relaxed);
        match result {
            Ok(outcome) => deliver(job, outcome.bind(py)),
            Err(err) => {
                let message = format!("running the program failed: {}", describe_error(py, &err));
                job.reply.send(internal_error(&message)).ok();
            }
        }
    }
}
