//! The supervisor: with `--reload` (the default) or `--workers N > 1`, `serve` binds the port
//! itself and runs the server in child processes ("workers") that inherit the socket.
//!
//! - Reload: a change under the project starts a new generation of workers that accept only
//!   once loaded; then the old generation is told to drain (SIGTERM: stop accepting, finish
//!   in-flight requests). A generation that fails to load is reported and the old one keeps
//!   serving; the next change retries.
//! - Workers: N workers share the socket (the kernel hands each connection to one of them); a
//!   crashed worker is restarted with backoff; a worker past `max_requests_per_worker` or
//!   `max_rss_mb` asks for a replacement and drains once it is ready.
//! - Signals: SIGINT/SIGTERM are forwarded (as SIGTERM) and the shutdown deadline applies; a
//!   second one stops the workers at once. Workers get a parent-death signal, so killing the
//!   supervisor (even with SIGKILL) never leaves one behind.

pub(crate) mod balance;
mod fleet;
mod policy;
mod settings;
mod spawn;
mod watcher;
pub(crate) mod worker;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use pyo3::prelude::*;

pub(crate) use settings::ProcessSettings;
pub(crate) use watcher::WatchScope;

use crate::cli::ExitStatus;

/// What reaches the supervisor's loop.
#[derive(Debug)]
pub(crate) enum Event {
    /// A line a worker wrote on its status pipe (`ready`, `recycle <reason>`).
    Status { id: u64, line: String },
    /// A worker process ended.
    Exited {
        id: u64,
        code: Option<i32>,
        signal: Option<i32>,
    },
    /// Files changed (hot reload), relative to the project root.
    Changed(Vec<PathBuf>),
    /// SIGINT or SIGTERM.
    Signal,
}

/// Everything the supervisor needs to start workers.
pub(crate) struct Plan {
    pub(crate) processes: ProcessSettings,
    pub(crate) scope: WatchScope,
    pub(crate) listener: std::net::TcpListener,
    pub(crate) runtime: tokio::runtime::Runtime,
    /// The user's flags after `serve` (without `--python`: workers run this interpreter).
    pub(crate) args: Vec<String>,
    pub(crate) shutdown_timeout: Duration,
    /// Variables this process took from `.env`: workers read `.env` afresh (a reload picks up
    /// its changes), so they must not inherit the old values, which `.env` never overrides.
    pub(crate) from_dotenv: Vec<String>,
    /// Variables every worker gets (a generated `--auth` token, so all accept the same one).
    pub(crate) shared_env: Vec<(String, String)>,
}

/// Run the workers until a signal; the exit status is the server's.
pub(crate) fn run(py: Python<'_>, plan: Plan) -> ExitStatus {
    let python = match py
        .import("sys")
        .and_then(|sys| sys.getattr("executable"))
        .and_then(|e| e.extract::<String>())
    {
        Ok(path) if !path.is_empty() => PathBuf::from(path),
        _ => {
            println!(
                "Error: cannot find the Python executable (sys.executable) to start workers. Run with --no-reload --workers 1."
            );
            eprintln!("Aborted!");
            return ExitStatus::Failure;
        }
    };
    let (events_tx, events) = mpsc::channel();
    let signals = events_tx.clone();
    plan.runtime.spawn(async move {
        loop {
            crate::server_runtime::shutdown_signal().await;
            if signals.send(Event::Signal).is_err() {
                return;
            }
        }
    });
    let watcher = if plan.processes.reload {
        let changes = events_tx.clone();
        match watcher::watch(&plan.scope, move |paths| {
            changes.send(Event::Changed(paths)).ok();
        }) {
            Ok(w) => Some(w),
            Err(err) => {
                tracing::warn!(target: "dspy_cli.reload", "Hot reload is off: cannot watch {}: {err}", plan.scope.root.display());
                None
            }
        }
    } else {
        None
    };
    let mut fleet = fleet::Fleet::new(&python, &plan, events_tx);
    let status = py.detach(move || fleet.run(&events, watcher));
    drop(plan.runtime);
    status
}

/// The flags for a run on an interpreter already chosen (a worker, or the re-exec into the
/// project's venv): the user's, minus `--python`, plus `--system`.
pub(crate) fn chosen_interpreter_args(command_args: &[String]) -> Vec<String> {
    let mut args = Vec::new();
    let mut skip_next = false;
    for arg in command_args {
        if skip_next {
            skip_next = false;
        } else if arg == "--python" {
            skip_next = true;
        } else if !arg.starts_with("--python=") {
            args.push(arg.clone());
        }
    }
    if !args.iter().any(|a| a == "--system") {
        args.push("--system".into());
    }
    args
}

/// The banner lines upstream prints in reload mode (reference/cli.md §7.3 step 12), plus `.env`,
/// which we also watch.
pub(crate) fn reload_banner(root: &Path, modules_dir: &Path) -> String {
    format!(
        "Hot reload: ENABLED\n  Watching for changes in:\n    • {}\n    • {}\n    • {} (every *.py, *.yaml and .env under it)\n\n",
        modules_dir.display(),
        root.join("dspy.config.yaml").display(),
        root.display()
    )
}
