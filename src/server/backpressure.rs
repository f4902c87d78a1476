//! Per-program concurrency limits with a bounded wait, then 429 with `Retry-After`.
//!
//! A request waits up to the queue timeout for a slot of its program (all gateways of a program
//! share its slots); only then is it rejected. Rejections are counted, not logged.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Limits from `server.*` in dspy.config.yaml.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_concurrent_per_program: usize,
    pub(crate) queue_timeout: Duration,
    pub(crate) request_timeout: Option<Duration>,
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

pub(crate) struct ProgramSlots {
    slots: HashMap<Arc<str>, Arc<Semaphore>>,
    limits: Limits,
}

impl ProgramSlots {
    pub(crate) fn new<'a>(programs: impl Iterator<Item = &'a Arc<str>>, limits: Limits) -> Self {
        let slots = programs
            .map(|p| (p.clone(), Arc::new(Semaphore::new(limits.max_concurrent_per_program))))
            .collect();
        Self { slots, limits }
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Wait for a slot of `program`; `None` once the queue timeout has passed.
    pub(crate) async fn acquire(&self, program: &str) -> Option<OwnedSemaphorePermit> {
        let semaphore = self.slots.get(program)?.clone();
        tokio::time::timeout(self.limits.queue_timeout, semaphore.acquire_owned())
            .await
            .ok()?
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waits_the_whole_queue_timeout_before_rejecting() {
        let limits = Limits {
            max_concurrent_per_program: 1,
            queue_timeout: Duration::from_secs(3),
            request_timeout: None,
        };
        let name: Arc<str> = "P".into();
        let slots = ProgramSlots::new([&name].into_iter(), limits);
        let held = slots.acquire("P").await.expect("first slot");
        let started = tokio::time::Instant::now();
        assert!(slots.acquire("P").await.is_none());
        assert_eq!(started.elapsed(), Duration::from_secs(3));
        drop(held);
        assert!(slots.acquire("P").await.is_some());
        assert_eq!(limits.retry_after_seconds(), 1);
    }
}
