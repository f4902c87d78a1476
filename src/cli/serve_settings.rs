//! [`ServeSettings`]: everything `serve` and `cron` run with, resolved once before anything
//! starts, in one order of precedence: flags > environment variables (both read by clap, names
//! in `config::EnvVars`) > `dspy.config.yaml` > defaults. The start-up banner prints this.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::args::ServeArgs;
use super::data_settings::DataSettings;
use super::serve_limits::{connection_limits, request_limits, runtime_threads, sync_worker_threads};
use super::serve_security::{self, SecuritySettings, security_settings};
use crate::config::{ConfigError, ProjectConfig};
use crate::scheduler::{ScheduleError, Zone};
use crate::server::{ConnectionLimits, CorsError, Limits};
use crate::supervisor::{ProcessSettings, worker};

/// A setting that cannot be used; each message names the key and the value.
#[derive(Debug, thiserror::Error)]
pub(super) enum SettingsError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Zone(#[from] ScheduleError),
    #[error("Invalid configuration: {0}")]
    Cors(#[from] CorsError),
}

/// Default maximum of the sync pool: enough threads for 100+ concurrent LM calls.
const DEFAULT_SYNC_WORKERS: usize = 128;
/// One tokio thread, as Granian's default: the HTTP side costs a few hundredths of a
/// millisecond per request, and a second thread on a small box mostly competes with the
/// thread holding the GIL (same-run A/B in bench/README.md: no-LM +24% req/s, -21% CPU).
const DEFAULT_RUNTIME_THREADS: usize = 1;

pub(super) struct ServeSettings {
    /// `--logs-dir` (relative to the project), else `./logs`.
    pub(super) logs_dir: PathBuf,
    /// `--sync-workers`, else `server.sync_worker_threads`, else 128.
    pub(super) sync_workers: usize,
    /// `--runtime-threads`, else `server.runtime_threads`, else 1: the HTTP runtime's threads.
    pub(super) runtime_threads: usize,
    pub(super) fresh_instance_per_request: bool,
    /// `--shutdown-timeout`: grace for in-flight requests after the first stop signal.
    pub(super) shutdown_timeout: Duration,
    pub(super) limits: Limits,
    pub(super) connections: ConnectionLimits,
    /// `server.timezone`, for cron schedules.
    pub(super) zone: Zone,
    /// Log rotation, image caps, error exposure.
    pub(super) data: DataSettings,
    /// Login limits and CORS origins (`DSPY_CORS_ORIGINS` over `server.cors_origins`).
    pub(super) security: SecuritySettings,
    /// False with `--no-cron`.
    pub(super) cron: bool,
    /// Hot reload and worker processes (src/supervisor/).
    pub(super) processes: ProcessSettings,
}

impl ServeSettings {
    /// Merge `args` (flags and their variables) with `config`; `cwd` anchors `--logs-dir`.
    /// Every error names the setting and the value that is wrong.
    pub(super) fn resolve(args: &ServeArgs, config: &ProjectConfig, cwd: &Path) -> Result<Self, SettingsError> {
        let configured_workers = sync_worker_threads(config)?;
        let configured_runtime_threads = runtime_threads(config)?;
        let fresh_instance_per_request = config.server.fresh_instance_per_request.flag()?.unwrap_or(false);
        let limits = request_limits(config)?;
        let connections = connection_limits(config)?;
        let zone = Zone::parse(config.server.timezone.typed().map(String::as_str))?;
        let data = DataSettings::from_config(config)?;
        let security = security_settings(config)?;
        Ok(Self {
            logs_dir: args.logs_dir.as_ref().map_or_else(|| cwd.join("logs"), |d| cwd.join(d)),
            sync_workers: args.sync_workers.or(configured_workers).unwrap_or(DEFAULT_SYNC_WORKERS),
            runtime_threads: args
                .runtime_threads
                .or(configured_runtime_threads)
                .unwrap_or(DEFAULT_RUNTIME_THREADS),
            fresh_instance_per_request,
            shutdown_timeout: Duration::from_secs_f64(args.shutdown_timeout.max(0.0)),
            limits,
            connections,
            zone,
            data,
            security,
            cron: !args.no_cron,
            processes: ProcessSettings::resolve(args, config)?,
        })
    }

    /// The "Settings:" block of the start-up output: the values in effect, whatever set them.
    pub(super) fn print(&self) {
        let limits = &self.limits;
        let connections = &self.connections;
        println!("Settings:");
        println!(
            "  max concurrent requests per program: {}",
            limits.max_concurrent_per_program
        );
        println!("  queue timeout: {}s", limits.queue_timeout.as_secs_f64());
        match limits.request_timeout {
            Some(t) => println!("  request timeout: {}s", t.as_secs_f64()),
            None => println!("  request timeout: off"),
        }
        println!("  logs: {}", self.logs_dir.display());
        println!("  sync worker threads (max): {}", self.sync_workers);
        println!("  HTTP runtime threads: {}", self.runtime_threads);
        println!("  fresh instance per request: {}", self.fresh_instance_per_request);
        println!("  shutdown timeout: {}s", self.shutdown_timeout.as_secs_f64());
        println!(
            "  queue per program: {}; body: {} bytes within {}s",
            limits.max_queued_per_program,
            limits.max_body_bytes,
            limits.body_read_timeout.as_secs_f64()
        );
        println!(
            "  connections: {} max; timeouts: keep-alive {}s, headers {}s, write {}s; headers up to {} bytes",
            connections.max_connections,
            connections.keep_alive_timeout.as_secs_f64(),
            connections.header_read_timeout.as_secs_f64(),
            connections.write_timeout.as_secs_f64(),
            connections.max_header_bytes
        );
        if self.cron {
            println!("  cron: on, schedules in {}", self.zone.describe());
        } else {
            println!("  cron: off (--no-cron)");
        }
        serve_security::print_cors(&self.security);
        self.print_processes();
        self.data.print();
    }
}

impl ServeSettings {
    fn print_processes(&self) {
        let processes = &self.processes;
        if processes.reload {
            println!("  hot reload: on (--no-reload for production)");
        } else {
            println!("  hot reload: off");
        }
        let recycle = |n: u64, unit: &str| {
            if n == 0 {
                "never".to_owned()
            } else {
                format!("after {n} {unit}")
            }
        };
        let memory = if processes.max_rss_mb == 0 {
            "never by memory".to_owned()
        } else {
            format!("past {} MB", processes.max_rss_mb)
        };
        println!(
            "  worker processes: {}; replaced {} / {memory}",
            processes.workers,
            recycle(processes.max_requests_per_worker, "program calls"),
        );
        if processes.workers > 1 {
            println!(
                "  (concurrency, queue and connection limits above are per worker: 1/{} of the configured value each)",
                processes.workers
            );
        }
    }

    /// With N workers, each enforces 1/N of the server-wide concurrency, queue and connection
    /// limits (rounded up), so the configured numbers keep meaning the whole server.
    pub(super) fn share_with_workers(&mut self, role: Option<&worker::WorkerRole>) {
        if let Some(role) = role {
            let limits = &mut self.limits;
            limits.max_concurrent_per_program = worker::share(limits.max_concurrent_per_program, role);
            if limits.max_queued_per_program > 0 {
                limits.max_queued_per_program = worker::share(limits.max_queued_per_program, role);
            }
            self.connections.max_connections = worker::share(self.connections.max_connections, role);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Args, Command};
    use clap::Parser;

    fn resolve(flags: &[&str], server: &str) -> Result<ServeSettings, String> {
        let text = format!("models:\n  default: a\n  registry:\n    a: {{model: openai/x}}\nserver:\n{server}");
        let config = ProjectConfig::from_yaml(&text, &|_| None).map_err(|e| e.to_string())?;
        let argv = ["dspy-cli", "serve"].iter().chain(flags);
        let Some(Command::Serve(args)) = Args::try_parse_from(argv).unwrap().command else {
            unreachable!("parsed as serve")
        };
        ServeSettings::resolve(&args, &config, Path::new("/p")).map_err(|e| e.to_string())
    }

    #[test]
    fn flags_win_over_yaml_over_defaults() {
        let settings = resolve(&["--sync-workers", "3"], "  sync_worker_threads: 9\n").unwrap();
        assert_eq!(settings.sync_workers, 3);
        let settings = resolve(&[], "  sync_worker_threads: 9\n").unwrap();
        assert_eq!(settings.sync_workers, 9);
        let settings = resolve(&["--runtime-threads", "2"], "  runtime_threads: 4\n").unwrap();
        assert_eq!(settings.runtime_threads, 2);
        assert_eq!(resolve(&[], "  runtime_threads: 4\n").unwrap().runtime_threads, 4);
        let settings = resolve(&["--logs-dir", "l", "--no-cron"], "  other: 1\n").unwrap();
        assert_eq!(settings.sync_workers, DEFAULT_SYNC_WORKERS);
        assert_eq!(settings.runtime_threads, DEFAULT_RUNTIME_THREADS);
        assert_eq!(settings.logs_dir, Path::new("/p/l"));
        assert!(!settings.cron);
        assert_eq!(settings.shutdown_timeout, Duration::from_secs(30));
    }

    #[test]
    fn bad_values_name_their_key() {
        let err = resolve(&[], "  fresh_instance_per_request: 2\n").err().unwrap();
        assert_eq!(
            err,
            "Invalid configuration: 'server.fresh_instance_per_request' must be true or false, got 2"
        );
        let err = resolve(&[], "  timezone: Mars/Base\n").err().unwrap();
        assert!(err.contains("Mars/Base"), "{err}");
    }
}
