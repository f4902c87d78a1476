//! Per-program concurrency limits with a bounded wait, then 429 with `Retry-After`.
//!
//! A request waits up to the queue timeout for a slot of its program (all gateways of a program
//! share its slots); only then is it rejected. The queue itself is bounded: past
//! `max_queued_per_program` waiting requests, a new one is rejected at once. Rejections are
//! counted, not logged.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Limits from `server.*` in dspy.config.yaml.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_concurrent_per_program: usize,
    pub(crate) queue_timeout: Duration,
    pub(crate) request_timeout: Option<Duration>,
    /// Requests of one program that may wait for a slot; more get an immediate 429.
    pub(crate) max_queued_per_program: usize,
    /// Larger request bodies get a 413 before they are read.
    pub(crate) max_body_bytes: usize,
    /// The whole request body must arrive within this.
    pub(crate) body_read_timeout: Duration,
}

impl Limits {
    /// Our default: never caps a program below 100 in-flight requests (upstream: 20).
    pub(crate) const DEFAULT_MAX_CONCURRENT: usize = 256;
    pub(crate) const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(30);

    /// Seconds a rejected client should wait: a fraction of the queue timeout, at least 1.
    pub(crate) fn retry_after_seconds(&self) -> u64 {
        (self.queue_timeout.as_secs() / 6).max(1)
    }
}

/// Why a request got no slot.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NoSlot {
    /// `max_queued_per_program` requests were already waiting.
    QueueFull,
    /// The queue timeout passed.
    TimedOut,
}

struct ProgramSlot {
    semaphore: Arc<Semaphore>,
    waiting: AtomicUsize,
}

/// Counts a request as waiting for as long as it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

pub(crate) struct ProgramSlots {
    slots: HashMap<Arc<str>, ProgramSlot>,
    limits: Limits,
}

impl ProgramSlots {
    pub(crate) fn new<'a>(programs: impl Iterator<Item = &'a Arc<str>>, limits: Limits) -> Self {
        let slots = programs
            .map(|p| {
                let slot = ProgramSlot {
                    semaphore: Arc::new(Semaphore::new(limits.max_concurrent_per_program)),
                    waiting: AtomicUsize::new(0),
                };
                (p.clone(), slot)
            })
            .collect();
        Self { slots, limits }
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// A slot of `program` at once, or after waiting in its bounded queue up to the queue timeout.
    pub(crate) async fn acquire(&self, program: &str) -> Result<OwnedSemaphorePermit, NoSlot> {
        let slot = self.slots.get(program).ok_or(NoSlot::TimedOut)?;
        if let Ok(permit) = slot.semaphore.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if slot.waiting.fetch_add(1, Ordering::AcqRel) >= self.limits.max_queued_per_program {
            slot.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(NoSlot::QueueFull);
        }
        let _waiting = Waiting(&slot.waiting);
        match tokio::time::timeout(self.limits.queue_timeout, slot.semaphore.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(NoSlot::TimedOut),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_concurrent: usize, max_queued: usize) -> Limits {
        Limits {
            max_concurrent_per_program: max_concurrent,
            queue_timeout: Duration::from_secs(3),
            request_timeout: None,
            max_queued_per_program: max_queued,
            max_body_bytes: 1024,
            body_read_timeout: Duration::from_secs(1),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn waits_the_whole_queue_timeout_before_rejecting() {
        let limits = limits(1, 10);
        let name: Arc<str> = "P".into();
        let slots = ProgramSlots::new([&name].into_iter(), limits);
        let held = slots.acquire("P").await.expect("first slot");
        let started = tokio::time::Instant::now();
        assert_eq!(slots.acquire("P").await.unwrap_err(), NoSlot::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(3));
        drop(held);
        assert!(slots.acquire("P").await.is_ok());
        assert_eq!(limits.retry_after_seconds(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_rejects_at_once() {
        let name: Arc<str> = "P".into();
        let slots = Arc::new(ProgramSlots::new([&name].into_iter(), limits(1, 2)));
        let held = slots.acquire("P").await.expect("first slot");
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let slots = slots.clone();
                tokio::spawn(async move { slots.acquire("P").await.is_ok() })
            })
            .collect();
        tokio::task::yield_now().await;
        let started = tokio::time::Instant::now();
        assert_eq!(slots.acquire("P").await.unwrap_err(), NoSlot::QueueFull);
        assert_eq!(started.elapsed(), Duration::ZERO);
        drop(held);
        // The two queued requests get the slot one after the other.
        for waiter in waiters {
            assert!(waiter.await.unwrap());
        }
    }
}
