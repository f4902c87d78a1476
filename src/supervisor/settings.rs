//! How many processes `serve` runs and when a worker is replaced: flags, then `server.*` keys.

use crate::cli::ServeArgs;
use crate::config::{ConfigError, ProjectConfig};

/// Largest `--workers` / `server.workers`: each worker is a whole interpreter.
pub(crate) const MAX_WORKERS: u64 = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcessSettings {
    pub(crate) reload: bool,
    /// Worker processes (0 from the user already turned into the number of cores).
    pub(crate) workers: usize,
    /// Program calls after which a worker is replaced (0 = never).
    pub(crate) max_requests_per_worker: u64,
    /// Resident memory (MB) past which a worker is replaced (0 = never).
    pub(crate) max_rss_mb: u64,
}

impl ProcessSettings {
    pub(crate) fn resolve(args: &ServeArgs, config: &ProjectConfig) -> Result<Self, ConfigError> {
        let configured = config.server.workers.within(0..=MAX_WORKERS)?;
        let workers = args.workers.map(|w| w as u64).or(configured).unwrap_or(1);
        let workers = if workers == 0 {
            cores()
        } else {
            usize::try_from(workers).unwrap_or(1)
        };
        let max_requests = config.server.max_requests_per_worker.within(0..=u64::MAX)?;
        let max_rss = config.server.max_rss_mb.within(0..=u64::MAX)?;
        Ok(Self {
            reload: args.reload_enabled(),
            workers,
            max_requests_per_worker: args.max_requests_per_worker.or(max_requests).unwrap_or(0),
            max_rss_mb: args.max_rss_mb.or(max_rss).unwrap_or(0),
        })
    }

    /// One process, as before the supervisor existed: `--no-reload --workers 1` (and no
    /// recycling, which needs a supervisor to start the replacement).
    pub(crate) fn single_process(&self) -> bool {
        !self.reload && self.workers == 1 && self.max_requests_per_worker == 0 && self.max_rss_mb == 0
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}
