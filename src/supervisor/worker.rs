//! The worker side: a `serve` process started by the supervisor.
//!
//! The supervisor passes one environment variable, `_DSPY_CLI_WORKER`, naming the inherited
//! listening socket, the status pipe and what this worker should do. A worker never binds: it
//! serves the inherited socket, and tells the supervisor over the pipe when it is ready (or
//! wants to be replaced).

use std::io::Write as _;
use std::os::fd::{FromRawFd as _, RawFd};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The variable the supervisor sets; see [`WorkerRole::to_env`].
pub(crate) const ROLE_VAR: &str = "_DSPY_CLI_WORKER";

/// What one worker process is told by the supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorkerRole {
    /// Worker number in the supervisor's log lines.
    pub(crate) id: u64,
    pub(crate) listen_fd: RawFd,
    pub(crate) status_fd: RawFd,
    /// The shared board that spreads connections over the workers (-1: none, one worker).
    pub(crate) board_fd: RawFd,
    /// Print the start-up listing and banner (the first worker only; the others would repeat it).
    pub(crate) announce: bool,
    /// Accept connections only once loaded: another worker serves meanwhile (reload, recycle).
    pub(crate) accept_after_load: bool,
    /// Treat a module that fails to load as fatal (a reload must not drop a program).
    pub(crate) strict: bool,
    /// Run the cron gateways (one worker of the fleet does, so jobs run once).
    pub(crate) run_cron: bool,
    /// Ask to be replaced after this many program calls (0 = never).
    pub(crate) max_requests: u64,
    /// Ask to be replaced when resident memory passes this many MB (0 = never).
    pub(crate) max_rss_mb: u64,
    /// Workers serving at once: each takes this share of the concurrency limits.
    pub(crate) workers: u64,
    /// A warm spare for the next reload: import DSPy now, then wait for `go` on stdin.
    pub(crate) standby: bool,
}

impl WorkerRole {
    pub(crate) fn to_env(&self) -> String {
        let flag = |on: bool, c: char| if on { c } else { '-' };
        let flags: String = [
            flag(self.announce, 'a'),
            flag(self.accept_after_load, 'l'),
            flag(self.strict, 's'),
            flag(self.run_cron, 'c'),
            flag(self.standby, 'w'),
        ]
        .into_iter()
        .collect();
        format!(
            "{}:{}:{}:{}:{flags}:{}:{}:{}",
            self.id, self.listen_fd, self.status_fd, self.board_fd, self.max_requests, self.max_rss_mb, self.workers
        )
    }

    fn parse(text: &str) -> Option<Self> {
        let parts: Vec<&str> = text.split(':').collect();
        let [
            id,
            listen_fd,
            status_fd,
            board_fd,
            flags,
            max_requests,
            max_rss_mb,
            workers,
        ] = parts.as_slice()
        else {
            return None;
        };
        Some(Self {
            id: id.parse().ok()?,
            listen_fd: listen_fd.parse().ok()?,
            status_fd: status_fd.parse().ok()?,
            board_fd: board_fd.parse().ok()?,
            announce: flags.contains('a'),
            accept_after_load: flags.contains('l'),
            strict: flags.contains('s'),
            run_cron: flags.contains('c'),
            standby: flags.contains('w'),
            max_requests: max_requests.parse().ok()?,
            max_rss_mb: max_rss_mb.parse().ok()?,
            workers: workers.parse().ok().filter(|w| *w > 0)?,
        })
    }
}

/// This process's role, read once; `None` when it is not a supervised worker.
pub(crate) fn role() -> Option<&'static WorkerRole> {
    static ROLE: OnceLock<Option<WorkerRole>> = OnceLock::new();
    ROLE.get_or_init(|| {
        let text = std::env::var(ROLE_VAR).ok()?;
        // User code must not see it (nor pass it on to processes it starts).
        #[expect(
            unsafe_code,
            reason = "remove_var is unsafe in edition 2024; read once at start-up before threads run Python"
        )]
        unsafe {
            std::env::remove_var(ROLE_VAR);
        }
        let role = WorkerRole::parse(&text);
        match &role {
            // Processes that user code starts must not inherit the socket or the pipe (a
            // pipe kept open elsewhere would hide this worker's exit).
            Some(role) => {
                for fd in [role.listen_fd, role.status_fd, role.board_fd]
                    .into_iter()
                    .filter(|fd| *fd >= 0)
                {
                    #[expect(
                        unsafe_code,
                        reason = "the supervisor passed these descriptors to us; they stay open"
                    )]
                    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
                    rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC).ok();
                }
            }
            None => eprintln!("Warning: ignoring malformed {ROLE_VAR}={text}"),
        }
        role
    })
    .as_ref()
}

/// The board that spreads connections over the workers, when the supervisor made one.
pub(crate) fn board(role: &WorkerRole) -> Option<std::sync::Arc<super::balance::Board>> {
    if role.board_fd < 0 {
        return None;
    }
    super::balance::Board::inherit(role.board_fd, role.id)
        .inspect_err(|err| tracing::warn!("connections are not balanced with the other workers: {err}"))
        .ok()
        .map(std::sync::Arc::new)
}

/// The inherited listening socket, as a tokio listener (call inside the runtime).
pub(crate) fn take_listener(role: &WorkerRole) -> std::io::Result<tokio::net::TcpListener> {
    #[expect(
        unsafe_code,
        reason = "the supervisor passed this descriptor to us, and nothing else owns it"
    )]
    let listener = unsafe { std::net::TcpListener::from_raw_fd(role.listen_fd) };
    listener.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(listener)
}

/// The write end of the status pipe (one line per message).
fn status_pipe() -> Option<&'static Mutex<std::fs::File>> {
    static PIPE: OnceLock<Option<Mutex<std::fs::File>>> = OnceLock::new();
    PIPE.get_or_init(|| {
        let role = role()?;
        #[expect(
            unsafe_code,
            reason = "the supervisor passed this descriptor to us, and nothing else owns it"
        )]
        let file = unsafe { std::fs::File::from_raw_fd(role.status_fd) };
        Some(Mutex::new(file))
    })
    .as_ref()
}

/// Tell the supervisor something (`ready`, `recycle ...`); a lost supervisor is not an error
/// here: the worker then dies with it (parent-death signal).
pub(crate) fn report(message: &str) {
    if let Some(pipe) = status_pipe() {
        let mut file = pipe.lock().expect("status pipe lock");
        file.write_all(format!("{message}\n").as_bytes()).ok();
    }
}

/// A standby worker: do the slow part of a start (the interpreter, `.env`, importing DSPy and
/// LiteLLM: about a second) ahead of time, then wait until the supervisor says `go` on stdin,
/// so a reload only imports the user's modules. `false`: the supervisor let this spare go
/// (stdin closed) and the process should exit quietly.
pub(crate) fn stand_by(py: pyo3::Python<'_>, offline: bool, project_root: Option<&std::path::Path>) -> bool {
    use pyo3::prelude::*;
    use std::io::BufRead as _;
    // `.env` first, as a normal start does: DSPy and LiteLLM read some variables at import.
    // (A change to `.env` makes the supervisor discard the spares.)
    let applied = project_root.map(crate::config::preload_dotenv).unwrap_or_default();
    let warmed = (|| -> PyResult<()> {
        let environ = py.import("os")?.getattr("environ")?;
        for (key, value) in &applied {
            environ.call_method1("setdefault", (key, value))?;
        }
        py.import("dspy_cli._runtime.privacy")?
            .call_method1("install", (offline,))?;
        py.import("dspy")?;
        py.import("dspy_cli._runtime.host")?;
        Ok(())
    })();
    if let Err(err) = warmed {
        // The start after `go` reports it properly.
        tracing::debug!("standby worker could not pre-import DSPy: {err}");
    }
    report("warm");
    let mut line = String::new();
    let read = py.detach(|| std::io::stdin().lock().read_line(&mut line));
    matches!(read, Ok(n) if n > 0) && line.trim() == "go"
}

/// This worker's share of a limit meant for the whole server (at least 1): with N workers,
/// N shares add up to the configured value, so limits mean what they mean with one process.
pub(crate) fn share(limit: usize, role: &WorkerRole) -> usize {
    let workers = usize::try_from(role.workers).unwrap_or(1).max(1);
    limit.div_ceil(workers).max(1)
}

/// Resident memory of this process in MB (Linux `/proc`; `None` elsewhere).
fn rss_mb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// Four times a second, compare the program calls answered and the memory used with the role's
/// limits; past one, ask the supervisor (once) for a replacement. The supervisor starts it and
/// drains this worker when the replacement is ready.
pub(crate) async fn watch_limits(role: WorkerRole, calls: impl Fn() -> u64) {
    if role.max_requests == 0 && role.max_rss_mb == 0 {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        let answered = calls();
        if role.max_requests > 0 && answered >= role.max_requests {
            report(&format!(
                "recycle answered {answered} program calls (max_requests_per_worker = {})",
                role.max_requests
            ));
            return;
        }
        if role.max_rss_mb > 0
            && let Some(rss) = rss_mb()
            && rss >= role.max_rss_mb
        {
            report(&format!(
                "recycle uses {rss} MB of memory (max_rss_mb = {})",
                role.max_rss_mb
            ));
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::WorkerRole;

    #[test]
    fn role_round_trips_through_the_environment() {
        let role = WorkerRole {
            id: 7,
            listen_fd: 3,
            status_fd: 9,
            board_fd: 11,
            announce: false,
            accept_after_load: true,
            strict: true,
            run_cron: false,
            max_requests: 1000,
            max_rss_mb: 0,
            workers: 2,
            standby: true,
        };
        assert_eq!(WorkerRole::parse(&role.to_env()), Some(role));
        assert_eq!(WorkerRole::parse("7:3"), None);
    }
}
