//! The asyncio loop thread that runs `aforward` programs.
//!
//! Submitting from a tokio worker never touches the interpreter: the job goes into a channel
//! and the [`Doorbell`] wakes the loop (`loop.add_reader` on its socket). The loop then drains
//! every queued job in one callback, creating one task per request with its own copy of the
//! root context.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use tokio::sync::oneshot;

use super::cron_run::{CronDone, CronReport};
use super::doorbell::Doorbell;
use super::gateway_app::{AsgiDone, AsgiRequest, AsgiResponse, start_args};
use super::outcome::{deliver, describe_error, internal_error};
use super::{BodyKind, JobContext};

pub(crate) enum LoopJob {
    Run {
        id: u64,
        job: JobContext,
        body: Bytes,
        kind: BodyKind,
    },
    Cancel(u64),
    /// Complete an asyncio future with the result of a program run (see `bridge`).
    Resolve {
        future: Py<PyAny>,
        status: u16,
        body: Bytes,
    },
    /// A request for the gateways' FastAPI app (`id` for [`AsyncLoop::cancel`]).
    Asgi {
        id: u64,
        request: AsgiRequest,
        reply: oneshot::Sender<AsgiResponse>,
    },
    /// Start one run of cron job `job`.
    Cron {
        job: usize,
        reply: oneshot::Sender<CronReport>,
    },
    Stop,
}

/// The Python functions the loop thread calls.
pub(crate) struct LoopHooks {
    pub(crate) run_loop: Py<PyAny>,
    pub(crate) start_async: Py<PyAny>,
    pub(crate) start_asgi: Py<PyAny>,
    pub(crate) start_cron: Py<PyAny>,
}

/// Sends work to the loop thread from any thread, without the interpreter.
#[derive(Clone)]
pub(crate) struct LoopHandle {
    jobs: crossbeam_channel::Sender<LoopJob>,
    doorbell: Arc<Doorbell>,
}

impl LoopHandle {
    pub(crate) fn send(&self, job: LoopJob) {
        self.jobs.send(job).ok();
        self.doorbell.ring();
    }
}

/// Tasks in flight on the loop, by request id, so a disconnect can cancel them.
pub(super) type TaskMap = Arc<Mutex<HashMap<u64, Py<PyAny>>>>;

pub(crate) struct AsyncLoop {
    handle: LoopHandle,
    next_id: AtomicU64,
    in_flight: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl AsyncLoop {
    /// Register the drain callback on `event_loop` and start the thread running it.
    pub(crate) fn start(
        py: Python<'_>,
        event_loop: &Bound<'_, PyAny>,
        hooks: LoopHooks,
        routes: Arc<Vec<Py<PyAny>>>,
    ) -> PyResult<Self> {
        let LoopHooks {
            run_loop,
            start_async,
            start_asgi,
            start_cron,
        } = hooks;
        let doorbell = Arc::new(Doorbell::new()?);
        let (jobs, rx) = crossbeam_channel::unbounded();
        let in_flight = Arc::new(AtomicU64::new(0));
        let drainer = Drainer {
            rx,
            doorbell: doorbell.clone(),
            in_flight: in_flight.clone(),
            tasks: TaskMap::default(),
            routes,
            start_async,
            start_asgi,
            start_cron,
            event_loop: event_loop.clone().unbind(),
        };
        event_loop.call_method1("add_reader", (doorbell.fd(), Py::new(py, drainer)?))?;
        let loop_obj = event_loop.clone().unbind();
        let thread = std::thread::Builder::new().name("dspy-asyncio".into()).spawn(move || {
            Python::attach(|py| {
                if let Err(err) = run_loop.call1(py, (loop_obj,)) {
                    tracing::error!("asyncio loop thread stopped: {}", describe_error(py, &err));
                }
            });
        })?;
        Ok(Self {
            handle: LoopHandle { jobs, doorbell },
            next_id: AtomicU64::new(1),
            in_flight,
            thread: Some(thread),
        })
    }

    fn send(&self, job: LoopJob) {
        self.handle.send(job);
    }

    pub(crate) fn handle(&self) -> LoopHandle {
        self.handle.clone()
    }

    /// Queue a request; returns its id for [`AsyncLoop::cancel`].
    pub(crate) fn submit(&self, job: JobContext, body: Bytes, kind: BodyKind) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.send(LoopJob::Run { id, job, body, kind });
        id
    }

    /// Queue a request for the gateways' FastAPI app; returns its id for [`AsyncLoop::cancel`].
    pub(crate) fn submit_asgi(&self, request: AsgiRequest, reply: oneshot::Sender<AsgiResponse>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.send(LoopJob::Asgi { id, request, reply });
        id
    }

    pub(crate) fn cancel(&self, id: u64) {
        self.send(LoopJob::Cancel(id));
    }

    pub(crate) fn tasks(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Stop the loop; its thread cancels what is left (logging each) and closes the loop.
    pub(crate) fn stop_and_join(mut self) {
        self.send(LoopJob::Stop);
        if let Some(thread) = self.thread.take() {
            thread.join().ok();
        }
    }
}

/// The `add_reader` callback: runs on the loop thread, attached.
#[pyclass(frozen, module = "dspy_cli._native")]
struct Drainer {
    rx: crossbeam_channel::Receiver<LoopJob>,
    doorbell: Arc<Doorbell>,
    in_flight: Arc<AtomicU64>,
    tasks: TaskMap,
    routes: Arc<Vec<Py<PyAny>>>,
    start_async: Py<PyAny>,
    start_asgi: Py<PyAny>,
    start_cron: Py<PyAny>,
    event_loop: Py<PyAny>,
}

#[pymethods]
impl Drainer {
    fn __call__(&self, py: Python<'_>) {
        self.doorbell.answer();
        while let Ok(job) = self.rx.try_recv() {
            match job {
                LoopJob::Run { id, job, body, kind } => self.start(py, id, job, &body, kind),
                LoopJob::Cancel(id) => self.cancel(py, id),
                LoopJob::Resolve { future, status, body } => resolve(py, &future, status, &body),
                LoopJob::Asgi { id, request, reply } => self.start_asgi(py, id, &request, reply),
                LoopJob::Cron { job, reply } => self.start_cron(py, job, reply),
                LoopJob::Stop => {
                    self.event_loop.call_method0(py, "stop").ok();
                }
            }
        }
    }
}

impl Drainer {
    fn start(&self, py: Python<'_>, id: u64, job: JobContext, body: &[u8], kind: BodyKind) {
        let route = self.routes[job.route].clone_ref(py);
        let completion = Completion {
            job: Mutex::new(Some(job)),
            id,
            tasks: self.tasks.clone(),
            in_flight: self.in_flight.clone(),
        };
        let completion = match Py::new(py, completion) {
            Ok(c) => c,
            Err(err) => {
                return tracing::error!("creating a completion: {}", describe_error(py, &err));
            }
        };
        let args = (route, PyBytes::new(py, body), kind.code(), completion.clone_ref(py));
        match self.start_async.call1(py, args) {
            Ok(task) if !task.is_none(py) => {
                self.tasks.lock().expect("task map lock").insert(id, task);
            }
            Ok(_) => {}
            Err(err) => completion
                .get()
                .fail(&format!("starting the program failed: {}", describe_error(py, &err))),
        }
    }

    fn start_asgi(&self, py: Python<'_>, id: u64, request: &AsgiRequest, reply: oneshot::Sender<AsgiResponse>) {
        let done = match Py::new(py, AsgiDone::new(reply, self.tasks.clone(), id)) {
            Ok(done) => done,
            Err(err) => return tracing::error!("starting a gateway app request: {}", describe_error(py, &err)),
        };
        let started = start_args(py, request).and_then(|mut args| {
            args.push(done.clone_ref(py).into_bound(py).into_any());
            self.start_asgi.call1(py, PyTuple::new(py, args)?)
        });
        match started {
            Ok(task) => {
                self.tasks.lock().expect("task map lock").insert(id, task);
            }
            Err(err) => {
                let message = format!(
                    "the gateway app could not take the request: {}",
                    describe_error(py, &err)
                );
                done.get().send(AsgiResponse::error(&message));
            }
        }
    }

    fn start_cron(&self, py: Python<'_>, job: usize, reply: oneshot::Sender<CronReport>) {
        let done = match Py::new(py, CronDone::new(reply)) {
            Ok(done) => done,
            Err(err) => return tracing::error!("starting a cron run: {}", describe_error(py, &err)),
        };
        if let Err(err) = self.start_cron.call1(py, (job, done.clone_ref(py))) {
            done.get().send(CronReport::failure(format!(
                "could not start: {}",
                describe_error(py, &err)
            )));
        }
    }

    fn cancel(&self, py: Python<'_>, id: u64) {
        let task = self.tasks.lock().expect("task map lock").remove(&id);
        if let Some(task) = task {
            task.call_method0(py, "cancel").ok();
        }
    }
}

/// Complete `future` unless its awaiting task was cancelled meanwhile.
fn resolve(py: Python<'_>, future: &Py<PyAny>, status: u16, body: &[u8]) {
    let future = future.bind(py);
    if future.call_method0("done").and_then(|d| d.is_truthy()).unwrap_or(true) {
        return;
    }
    if let Err(err) = future.call_method1("set_result", ((status, PyBytes::new(py, body)),)) {
        tracing::error!("completing a gateway endpoint call: {}", describe_error(py, &err));
    }
}

/// Called once with the outcome of one request (by the task's done-callback, or directly).
#[pyclass(frozen, module = "dspy_cli._native")]
pub(crate) struct Completion {
    job: Mutex<Option<JobContext>>,
    id: u64,
    tasks: TaskMap,
    in_flight: Arc<AtomicU64>,
}

impl Completion {
    fn take(&self) -> Option<JobContext> {
        let job = self.job.lock().expect("completion lock").take();
        if job.is_some() {
            // Drop the task reference outside the lock: its destructor may run Python code.
            let task = self.tasks.lock().expect("task map lock").remove(&self.id);
            drop(task);
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
        job
    }

    fn fail(&self, message: &str) {
        if let Some(job) = self.take() {
            job.reply.send(internal_error(message)).ok();
        }
    }
}

impl Drop for Completion {
    /// A completion that is collected unused (its task vanished without calling back) still
    /// answers, so no request waits forever and the counters stay right.
    fn drop(&mut self) {
        self.fail("the program's asyncio task ended without a result");
    }
}

#[pymethods]
impl Completion {
    fn __call__(&self, outcome: &Bound<'_, PyAny>) {
        if let Some(job) = self.take() {
            deliver(job, outcome);
        }
    }
}
