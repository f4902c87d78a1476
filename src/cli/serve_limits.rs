//! The `server.*` limits of dspy.config.yaml, each range-checked with a message naming the key.
//!
//! Request limits (concurrency, queue, timeouts, body size) and connection limits (timeouts,
//! header size, connection count). Every key has a default and a line in the README.

use std::time::Duration;

use crate::config::{ConfigError, ProjectConfig};
use crate::server::{ConnectionLimits, Limits};

/// Defaults in the range uvicorn, Granian, hyper and nginx use.
const DEFAULT_MAX_QUEUED: u64 = 1024;
const DEFAULT_MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;
const DEFAULT_MAX_CONNECTIONS: u64 = 4096;
const DEFAULT_MAX_HEADER_BYTES: u64 = 32 * 1024;
const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// Largest accepted values: beyond them a number is a typo, not a setting.
const MAX_COUNT: u64 = 1_000_000;
const MAX_BODY_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// hyper needs room for at least 8 KiB of headers.
const MIN_HEADER_BYTES: u64 = 8 * 1024;
const MAX_HEADER_BYTES: u64 = 1024 * 1024;

fn count(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

pub(super) fn request_limits(config: &ProjectConfig) -> Result<Limits, ConfigError> {
    let max_concurrent = config.server.max_concurrent_per_program.within(1..=MAX_COUNT)?;
    Ok(Limits {
        max_concurrent_per_program: max_concurrent.map_or(Limits::DEFAULT_MAX_CONCURRENT, count),
        queue_timeout: config
            .server
            .queue_timeout_seconds
            .seconds()?
            .unwrap_or(Limits::DEFAULT_QUEUE_TIMEOUT),
        request_timeout: config.server.request_timeout_seconds.seconds()?,
        // 0 is allowed: no waiting at all, a request gets a slot at once or a 429.
        max_queued_per_program: count(
            config
                .server
                .max_queued_per_program
                .within(0..=MAX_COUNT)?
                .unwrap_or(DEFAULT_MAX_QUEUED),
        ),
        max_body_bytes: count(
            config
                .server
                .max_body_bytes
                .within(1..=MAX_BODY_BYTES)?
                .unwrap_or(DEFAULT_MAX_BODY_BYTES),
        ),
        body_read_timeout: config
            .server
            .body_read_timeout_seconds
            .seconds()?
            .unwrap_or(DEFAULT_BODY_READ_TIMEOUT),
    })
}

pub(super) fn connection_limits(config: &ProjectConfig) -> Result<ConnectionLimits, ConfigError> {
    Ok(ConnectionLimits {
        max_connections: count(
            config
                .server
                .max_connections
                .within(1..=MAX_COUNT)?
                .unwrap_or(DEFAULT_MAX_CONNECTIONS),
        ),
        max_header_bytes: count(
            config
                .server
                .max_header_bytes
                .within(MIN_HEADER_BYTES..=MAX_HEADER_BYTES)?
                .unwrap_or(DEFAULT_MAX_HEADER_BYTES),
        ),
        header_read_timeout: config
            .server
            .header_read_timeout_seconds
            .seconds()?
            .unwrap_or(DEFAULT_HEADER_READ_TIMEOUT),
        keep_alive_timeout: config
            .server
            .keep_alive_timeout_seconds
            .seconds()?
            .unwrap_or(DEFAULT_KEEP_ALIVE_TIMEOUT),
        write_timeout: config
            .server
            .write_timeout_seconds
            .seconds()?
            .unwrap_or(DEFAULT_WRITE_TIMEOUT),
    })
}

/// `server.runtime_threads`: threads of the tokio runtime that does the HTTP work (1–64, as the
/// `--runtime-threads` flag).
pub(super) fn runtime_threads(config: &ProjectConfig) -> Result<Option<usize>, ConfigError> {
    Ok(config.server.runtime_threads.within(1..=64)?.map(count))
}

/// `server.sync_worker_threads` (1–200, as the `--sync-workers` flag).
pub(super) fn sync_worker_threads(config: &ProjectConfig) -> Result<Option<usize>, ConfigError> {
    Ok(config.server.sync_worker_threads.within(1..=200)?.map(count))
}
