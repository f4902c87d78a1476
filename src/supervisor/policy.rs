//! When to restart a crashed worker: exponential backoff, forgiven after a healthy run.

use std::time::{Duration, Instant};

const FIRST_DELAY: Duration = Duration::from_millis(500);
const MAX_DELAY: Duration = Duration::from_secs(10);
/// A worker that ran this long before crashing starts the backoff over.
const HEALTHY_RUN: Duration = Duration::from_secs(30);

/// Restart delays of one worker slot.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    crashes_in_a_row: u32,
}

impl Backoff {
    /// The delay before restarting a worker that started at `started` and just crashed.
    pub(crate) fn next_delay(&mut self, started: Instant) -> Duration {
        if started.elapsed() >= HEALTHY_RUN {
            self.crashes_in_a_row = 0;
        }
        let delay = FIRST_DELAY.saturating_mul(1 << self.crashes_in_a_row.min(5));
        self.crashes_in_a_row += 1;
        delay.min(MAX_DELAY)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::Backoff;

    #[test]
    fn delays_double_up_to_the_cap_and_reset_after_a_healthy_run() {
        let mut backoff = Backoff::default();
        let now = Instant::now();
        let delays: Vec<u128> = (0..7).map(|_| backoff.next_delay(now).as_millis()).collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 8000, 10000, 10000]);
        let long_ago = now.checked_sub(Duration::from_secs(60)).unwrap_or(now);
        if long_ago < now {
            assert_eq!(backoff.next_delay(long_ago), Duration::from_millis(500));
        }
    }
}
