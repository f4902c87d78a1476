//! The supervisor's state machine: which workers run, which generation serves, what happens
//! when one becomes ready, asks to be replaced, or exits.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use rustix::process::Signal;

use super::balance::Board;
use super::policy::Backoff;
use super::spawn::{Started, signal, spawn_worker};
use super::watcher::FileWatcher;
use super::worker::WorkerRole;
use super::{Event, Plan};
use crate::cli::ExitStatus;

/// Extra time, past the shutdown deadline, before a worker that has not exited is killed.
const KILL_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Member {
    slot: usize,
    pid: i32,
    generation: u64,
    ready: bool,
    draining: bool,
    started: Instant,
    /// The worker this one replaces once ready (recycling).
    replaces: Option<u64>,
}

/// A warm spare waiting for the next reload (see `worker::stand_by`).
struct Standby {
    id: u64,
    pid: i32,
    stdin: std::process::ChildStdin,
}

pub(super) struct Fleet<'a> {
    python: PathBuf,
    plan: &'a Plan,
    events: Sender<Event>,
    members: BTreeMap<u64, Member>,
    /// Per slot, with hot reload: a spare that has imported DSPy already.
    standbys: BTreeMap<usize, Standby>,
    next_id: u64,
    /// The generation that serves.
    serving: u64,
    /// A generation loading after a change (hot reload).
    pending: Option<u64>,
    /// The first generation has not been ready yet: a failure then ends `serve`.
    starting: bool,
    backoff: Vec<Backoff>,
    restarts: Vec<(Instant, usize)>,
    /// Set at the first signal: the moment remaining workers get SIGKILL.
    stopping: Option<Instant>,
    /// The exit status of a failed start.
    failed: Option<ExitStatus>,
    /// With several workers: the board that spreads connections over them (balance.rs).
    board: Option<Board>,
}

impl<'a> Fleet<'a> {
    pub(super) fn new(python: &Path, plan: &'a Plan, events: Sender<Event>) -> Self {
        Self {
            python: python.to_path_buf(),
            plan,
            events,
            members: BTreeMap::new(),
            standbys: BTreeMap::new(),
            next_id: 0,
            serving: 0,
            pending: None,
            starting: true,
            backoff: (0..plan.processes.workers).map(|_| Backoff::default()).collect(),
            restarts: Vec::new(),
            stopping: None,
            failed: None,
            board: (plan.processes.workers > 1)
                .then(|| {
                    Board::create()
                        .inspect_err(|err| tracing::warn!(target: "dspy_cli.supervisor", "Connections are not balanced across workers (no shared memory: {err})"))
                        .ok()
                })
                .flatten(),
        }
    }

    fn workers(&self) -> usize {
        self.plan.processes.workers
    }

    pub(super) fn run(&mut self, events: &Receiver<Event>, mut watcher: Option<FileWatcher>) -> ExitStatus {
        for slot in 0..self.workers() {
            // The first generation accepts at once: `/health/live` answers while it loads.
            if !self.start(slot, 0, false, None) {
                self.stop_all(Signal::KILL);
                return ExitStatus::Failure;
            }
        }
        loop {
            if let Some(status) = self.finished() {
                return status;
            }
            let event = match events.recv_timeout(self.next_wakeup()) {
                Ok(event) => event,
                Err(RecvTimeoutError::Timeout) => {
                    self.on_tick();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return ExitStatus::Failure,
            };
            match event {
                Event::Status { id, line } => self.on_status(id, &line),
                Event::Exited { id, code, signal } => self.on_exit(id, code, signal),
                Event::Changed(paths) => self.on_change(&paths),
                Event::Signal => {
                    // No reload once shutting down.
                    drop(watcher.take());
                    self.on_signal();
                }
            }
        }
    }

    fn finished(&self) -> Option<ExitStatus> {
        if !self.members.is_empty() {
            return None;
        }
        if let Some(status) = self.failed {
            return Some(status);
        }
        self.stopping.map(|_| {
            println!("\nServer stopped");
            ExitStatus::Success
        })
    }

    fn next_wakeup(&self) -> Duration {
        let now = Instant::now();
        let mut next = now + Duration::from_secs(3600);
        if let Some(deadline) = self.stopping {
            next = next.min(deadline);
        }
        for (at, _) in &self.restarts {
            next = next.min(*at);
        }
        next.saturating_duration_since(now).max(Duration::from_millis(10))
    }

    fn role(&self, id: u64, slot: usize, generation: u64, late: bool) -> WorkerRole {
        let processes = self.plan.processes;
        WorkerRole {
            id,
            listen_fd: -1,
            status_fd: -1,
            board_fd: -1,
            announce: id == 0,
            accept_after_load: late,
            // A reload must not drop a program whose module now fails to import.
            strict: generation > 0 && processes.reload,
            run_cron: slot == 0,
            max_requests: processes.max_requests_per_worker,
            max_rss_mb: processes.max_rss_mb,
            workers: processes.workers as u64,
            standby: false,
        }
    }

    /// Start a worker in `slot`; `late`: accept only once loaded (another worker serves).
    fn start(&mut self, slot: usize, generation: u64, late: bool, replaces: Option<u64>) -> bool {
        let id = self.next_id;
        self.next_id += 1;
        let role = self.role(id, slot, generation, late);
        match spawn_worker(
            &self.python,
            (&self.plan.args, &self.plan.from_dotenv, &self.plan.shared_env),
            role,
            (&self.plan.listener, self.board.as_ref()),
            &self.events,
        ) {
            Ok(started) => {
                tracing::debug!(target: "dspy_cli.supervisor", "worker {id} started (pid {}, slot {slot}, generation {generation})", started.pid);
                self.members.insert(
                    id,
                    Member {
                        slot,
                        pid: started.pid,
                        generation,
                        ready: false,
                        draining: false,
                        started: Instant::now(),
                        replaces,
                    },
                );
                true
            }
            Err(err) => {
                tracing::error!(target: "dspy_cli.supervisor", "Could not start a worker process with {}: {err}", self.python.display());
                false
            }
        }
    }

    /// With hot reload, keep one spare per slot that has done the slow part of a start.
    fn top_up_standbys(&mut self) {
        if !self.plan.processes.reload || self.stopping.is_some() {
            return;
        }
        for slot in 0..self.workers() {
            if self.standbys.contains_key(&slot) {
                continue;
            }
            let id = self.next_id;
            self.next_id += 1;
            // Generation 1 marks it as a reload worker (strict); the real one is set at `go`.
            let role = WorkerRole {
                standby: true,
                ..self.role(id, slot, 1, true)
            };
            let spawned = spawn_worker(
                &self.python,
                (&self.plan.args, &self.plan.from_dotenv, &self.plan.shared_env),
                role,
                (&self.plan.listener, self.board.as_ref()),
                &self.events,
            );
            match spawned {
                Ok(Started {
                    pid,
                    stdin: Some(stdin),
                }) => {
                    self.standbys.insert(slot, Standby { id, pid, stdin });
                }
                Ok(Started { pid, stdin: None }) => signal(pid, Signal::KILL),
                Err(err) => tracing::debug!(target: "dspy_cli.supervisor", "no standby worker: {err}"),
            }
        }
    }

    fn discard_standbys(&mut self) {
        for (_, standby) in std::mem::take(&mut self.standbys) {
            signal(standby.pid, Signal::KILL);
        }
    }

    /// Turn the spare of `slot` into a worker of `generation`; `false` if there is none (or it
    /// is gone).
    fn wake_standby(&mut self, slot: usize, generation: u64) -> bool {
        use std::io::Write as _;
        let Some(mut standby) = self.standbys.remove(&slot) else {
            return false;
        };
        if standby
            .stdin
            .write_all(b"go\n")
            .and_then(|()| standby.stdin.flush())
            .is_err()
        {
            signal(standby.pid, Signal::KILL);
            return false;
        }
        self.members.insert(
            standby.id,
            Member {
                slot,
                pid: standby.pid,
                generation,
                ready: false,
                draining: false,
                started: Instant::now(),
                replaces: None,
            },
        );
        true
    }

    fn drain(&mut self, id: u64) {
        if let Some(member) = self.members.get_mut(&id)
            && !member.draining
        {
            member.draining = true;
            signal(member.pid, Signal::TERM);
        }
    }

    fn on_status(&mut self, id: u64, line: &str) {
        if line == "warm" {
            tracing::debug!(target: "dspy_cli.supervisor", "standby worker {id} is warm");
            return;
        }
        let Some(member) = self.members.get_mut(&id) else {
            return;
        };
        if line == "ready" {
            member.ready = true;
            let (generation, replaces) = (member.generation, member.replaces);
            if self.starting && self.generation_ready(0) {
                self.starting = false;
                if self.workers() > 1 {
                    tracing::info!(target: "dspy_cli.supervisor", "{} workers serving", self.workers());
                }
                self.top_up_standbys();
            }
            if Some(generation) == self.pending && self.generation_ready(generation) {
                self.promote(generation);
            }
            if let Some(old) = replaces {
                self.drain(old);
            }
        } else if let Some(reason) = line.strip_prefix("recycle ") {
            if member.draining || self.pending.is_some() || self.stopping.is_some() {
                return;
            }
            let (slot, generation) = (member.slot, member.generation);
            tracing::info!(target: "dspy_cli.supervisor", "Worker {id} {reason}: starting its replacement; it drains once the replacement is ready");
            self.start(slot, generation, true, Some(id));
        }
    }

    fn generation_ready(&self, generation: u64) -> bool {
        let ready = self
            .members
            .values()
            .filter(|m| m.generation == generation && m.ready && !m.draining)
            .count();
        ready >= self.workers()
    }

    /// The new generation is loaded: it serves, the old one drains.
    fn promote(&mut self, generation: u64) {
        self.pending = None;
        self.serving = generation;
        self.starting = false;
        let old: Vec<u64> = self
            .members
            .iter()
            .filter(|(_, m)| m.generation < generation)
            .map(|(id, _)| *id)
            .collect();
        for id in old {
            self.drain(id);
        }
        tracing::info!(target: "dspy_cli.reload", "Reloaded: the new version is serving");
        self.top_up_standbys();
    }

    fn on_exit(&mut self, id: u64, code: Option<i32>, signal_number: Option<i32>) {
        if let Some(slot) = self.standbys.iter().find(|(_, s)| s.id == id).map(|(slot, _)| *slot) {
            // A spare died (killed, or could not start): the next reload starts cold.
            self.standbys.remove(&slot);
            return;
        }
        let Some(member) = self.members.remove(&id) else { return };
        if let Some(board) = &self.board {
            // A worker that crashed never left its seat.
            board.clear(id);
        }
        if self.stopping.is_some() || member.draining {
            return;
        }
        let how = match (code, signal_number) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(sig)) => format!("signal {sig}"),
            _ => "an unknown status".to_owned(),
        };
        if !member.ready && Some(member.generation) == self.pending {
            self.pending = None;
            self.kill_generation(member.generation);
            tracing::error!(target: "dspy_cli.reload", "Reload failed (the new version stopped with {how} before it was ready; its error is above). The previous version keeps serving; fix the error and save again.");
            self.top_up_standbys();
            return;
        }
        if !member.ready && self.starting && member.generation == 0 && member.replaces.is_none() {
            // The first start failed: its error is printed; `serve` ends with its status.
            self.failed = Some(match code {
                Some(2) => ExitStatus::Usage,
                Some(0) => ExitStatus::Success,
                _ => ExitStatus::Failure,
            });
            self.stop_all(Signal::KILL);
            return;
        }
        if !member.ready && member.replaces.is_some() {
            tracing::warn!(target: "dspy_cli.supervisor", "The replacement for worker {} stopped with {how} before it was ready; the worker keeps serving.", member.replaces.unwrap_or(0));
            return;
        }
        let replaced = self.members.values().any(|m| m.replaces == Some(id) && !m.draining);
        if replaced {
            return;
        }
        let delay = self.backoff[member.slot].next_delay(member.started);
        tracing::error!(target: "dspy_cli.supervisor", "Worker {id} (pid {}) stopped unexpectedly with {how}; restarting it in {:.1}s", member.pid, delay.as_secs_f64());
        self.restarts.push((Instant::now() + delay, member.slot));
    }

    fn kill_generation(&mut self, generation: u64) {
        for member in self.members.values_mut().filter(|m| m.generation == generation) {
            member.draining = true;
            signal(member.pid, Signal::KILL);
        }
    }

    fn on_change(&mut self, paths: &[PathBuf]) {
        if self.stopping.is_some() {
            return;
        }
        let names: Vec<String> = paths.iter().map(|p| format!("'{}'", p.display())).collect();
        tracing::warn!(target: "dspy_cli.reload", "Detected changes in {}. Reloading...", names.join(", "));
        if let Some(pending) = self.pending.take() {
            // Still loading the previous change: start over with the newest files.
            self.kill_generation(pending);
        }
        let generation = self.next_generation();
        self.pending = Some(generation);
        // The spares read `.env` when they started: a changed `.env` needs fresh processes.
        if paths.iter().any(|p| p.file_name().is_some_and(|n| n == ".env")) {
            self.discard_standbys();
        }
        for slot in 0..self.workers() {
            if self.wake_standby(slot, generation) {
                continue;
            }
            if !self.start(slot, generation, true, None) {
                self.pending = None;
                self.kill_generation(generation);
                return;
            }
        }
    }

    fn next_generation(&self) -> u64 {
        self.members
            .values()
            .map(|m| m.generation)
            .max()
            .unwrap_or(self.serving)
            .max(self.serving)
            + 1
    }

    fn on_tick(&mut self) {
        if let Some(deadline) = self.stopping {
            if Instant::now() >= deadline {
                self.stop_all(Signal::KILL);
            }
            return;
        }
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) = self.restarts.drain(..).partition(|(at, _)| *at <= now);
        self.restarts = later;
        for (_, slot) in due {
            // Accept at once when no worker of the serving generation is up (one worker).
            let others_serve = self
                .members
                .values()
                .any(|m| m.generation == self.serving && m.ready && !m.draining);
            if !self.start(slot, self.serving, others_serve, None) {
                let delay = self.backoff[slot].next_delay(Instant::now());
                self.restarts.push((Instant::now() + delay, slot));
            }
        }
    }

    fn on_signal(&mut self) {
        if self.stopping.is_some() {
            eprintln!("Second signal received: stopping the workers without waiting for in-flight requests.");
            // Workers exit at once on their second signal.
            self.stop_all(Signal::TERM);
            self.stopping = Some(Instant::now() + Duration::from_secs(2));
            return;
        }
        self.restarts.clear();
        self.discard_standbys();
        self.stopping = Some(Instant::now() + self.plan.shutdown_timeout + KILL_GRACE);
        self.stop_all(Signal::TERM);
    }

    fn stop_all(&mut self, sig: Signal) {
        for member in self.members.values_mut() {
            member.draining = true;
            signal(member.pid, sig);
        }
    }
}
