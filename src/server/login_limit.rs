//! The login rate limit: at most `server.login_attempts_per_minute` wrong tokens per client
//! address and minute; then `POST /login` answers 429 until the minute is over.
//!
//! Only the login form is limited. Requests with the right bearer token or a valid session
//! are never refused, so guessing from a shared address cannot lock the real user out.
//! IPv6 clients are counted per /64 (one host usually owns the whole prefix).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);

pub(crate) struct LoginLimiter {
    attempts_per_minute: u32,
    /// `server.login_tracked_addresses`: the table never grows past this.
    capacity: usize,
    table: Mutex<HashMap<IpAddr, Window>>,
}

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

impl LoginLimiter {
    pub(crate) fn new(attempts_per_minute: u32, capacity: usize) -> Self {
        Self {
            attempts_per_minute,
            capacity: capacity.max(1),
            table: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds to wait)` when `client` used up its wrong attempts for this minute.
    pub(crate) fn check(&self, client: IpAddr, now: Instant) -> Result<(), u64> {
        let table = self.table.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match table.get(&key(client)) {
            Some(w) if now.duration_since(w.started) < WINDOW && w.failures >= self.attempts_per_minute => {
                let left = WINDOW.saturating_sub(now.duration_since(w.started));
                Err(left.as_secs() + u64::from(left.subsec_nanos() > 0))
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn record_failure(&self, client: IpAddr, now: Instant) {
        let mut table = self.table.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let client = key(client);
        if !table.contains_key(&client) && table.len() >= self.capacity {
            table.retain(|_, w| now.duration_since(w.started) < WINDOW);
            if table.len() >= self.capacity {
                // Still full of live windows: forget the oldest one.
                let oldest = table.iter().min_by_key(|(_, w)| w.started).map(|(a, _)| *a);
                if let Some(oldest) = oldest {
                    table.remove(&oldest);
                }
            }
        }
        let window = table.entry(client).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now.duration_since(window.started) >= WINDOW {
            *window = Window {
                started: now,
                failures: 0,
            };
        }
        window.failures = window.failures.saturating_add(1);
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.table.lock().unwrap().len()
    }
}

fn key(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(_) => client,
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                IpAddr::V4(v4)
            } else {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_after_the_allowed_failures_until_the_minute_ends() {
        let limiter = LoginLimiter::new(2, 100);
        let client: IpAddr = "10.0.0.1".parse().unwrap();
        let start = Instant::now();
        assert!(limiter.check(client, start).is_ok());
        limiter.record_failure(client, start);
        limiter.record_failure(client, start);
        assert_eq!(limiter.check(client, start), Err(60));
        assert_eq!(limiter.check(client, start + Duration::from_millis(59_500)), Err(1));
        // Another address is not affected.
        assert!(limiter.check("10.0.0.2".parse().unwrap(), start).is_ok());
        assert!(limiter.check(client, start + WINDOW).is_ok());
    }

    #[test]
    fn the_table_stays_bounded() {
        let limiter = LoginLimiter::new(1, 3);
        let now = Instant::now();
        for i in 0..50u8 {
            limiter.record_failure(IpAddr::from([10, 0, 0, i]), now + Duration::from_millis(u64::from(i)));
        }
        assert_eq!(limiter.tracked(), 3);
        // The newest addresses are the ones kept.
        assert!(
            limiter
                .check(IpAddr::from([10, 0, 0, 49]), now + Duration::from_secs(1))
                .is_err()
        );
    }

    #[test]
    fn ipv6_counts_per_prefix() {
        let limiter = LoginLimiter::new(1, 10);
        let now = Instant::now();
        limiter.record_failure("2001:db8::1".parse().unwrap(), now);
        assert!(limiter.check("2001:db8::ffff:2".parse().unwrap(), now).is_err());
        assert!(limiter.check("2001:db9::1".parse().unwrap(), now).is_ok());
    }
}
