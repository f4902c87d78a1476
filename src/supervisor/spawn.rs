//! Starting one worker process: `python -m dspy_cli serve <the user's flags> --system`, with the
//! listening socket and a status pipe inherited, its own process group, and a parent-death
//! signal so it never outlives the supervisor.

use std::io::BufRead as _;
use std::os::fd::{AsRawFd as _, BorrowedFd, RawFd};
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::Sender;

use super::Event;
use super::balance::Board;
use super::worker::{ROLE_VAR, WorkerRole};

/// A started worker.
pub(crate) struct Started {
    pub(crate) pid: i32,
    /// A standby's stdin, where the supervisor writes `go`.
    pub(crate) stdin: Option<std::process::ChildStdin>,
}

/// Start a worker for `role` (its descriptors are filled in here). Its status lines and its
/// exit arrive on `events` as [`Event::Status`] and [`Event::Exited`].
pub(crate) fn spawn_worker(
    python: &Path,
    (args, from_dotenv, shared_env): (&[String], &[String], &[(String, String)]),
    mut role: WorkerRole,
    (listener, board): (&std::net::TcpListener, Option<&Board>),
    events: &Sender<Event>,
) -> std::io::Result<Started> {
    // Both ends are close-on-exec; only the worker's copy of the write end is kept across exec.
    let (reader, writer) = std::io::pipe()?;
    role.listen_fd = listener.as_raw_fd();
    role.status_fd = writer.as_raw_fd();
    role.board_fd = board.map_or(-1, |b| b.fd().as_raw_fd());
    let id = role.id;
    let mut command = Command::new(python);
    command
        .args(["-m", "dspy_cli", "serve"])
        .args(args)
        .env(ROLE_VAR, role.to_env())
        .stdin(if role.standby { Stdio::piped() } else { Stdio::null() })
        // Ctrl+C reaches the supervisor only; it decides what the workers are told.
        .process_group(0);
    for key in from_dotenv {
        command.env_remove(key);
    }
    command.envs(shared_env.iter().map(|(k, v)| (k, v)));
    let keep = [role.listen_fd, role.status_fd, role.board_fd];
    let parent = rustix::process::getpid();
    #[expect(
        unsafe_code,
        reason = "pre_exec runs between fork and exec; it only makes async-signal-safe system calls"
    )]
    unsafe {
        command.pre_exec(move || prepare_child(keep, parent));
    }
    let mut child = command.spawn()?;
    drop(writer);
    let stdin = child.stdin.take();
    let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
    let status_events = events.clone();
    std::thread::Builder::new()
        .name(format!("dspy-worker-{id}-status"))
        .spawn(move || {
            for line in std::io::BufReader::new(reader).lines().map_while(Result::ok) {
                if status_events.send(Event::Status { id, line }).is_err() {
                    return;
                }
            }
        })?;
    let exit_events = events.clone();
    std::thread::Builder::new()
        .name(format!("dspy-worker-{id}-wait"))
        .spawn(move || {
            let status = child.wait();
            let (code, signal) = match status {
                Ok(status) => (status.code(), status.signal()),
                Err(_) => (None, None),
            };
            exit_events.send(Event::Exited { id, code, signal }).ok();
        })?;
    Ok(Started { pid, stdin })
}

/// In the forked child: keep the descriptors open across exec (-1: none), and die with the parent.
fn prepare_child(keep: [RawFd; 3], parent: rustix::process::Pid) -> std::io::Result<()> {
    for fd in keep.into_iter().filter(|fd| *fd >= 0) {
        #[expect(
            unsafe_code,
            reason = "the descriptor is open in the parent, which is blocked in fork/exec"
        )]
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
    }
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
    // The supervisor died between fork and prctl: the signal will never come.
    if rustix::process::getppid() != Some(parent) {
        return Err(std::io::Error::other("the supervisor exited"));
    }
    Ok(())
}

/// Send `signal` to a worker (already gone is fine).
pub(crate) fn signal(pid: i32, signal: rustix::process::Signal) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid) {
        rustix::process::kill_process(pid, signal).ok();
    }
}
