//! The Python side of the server: the only place that touches the interpreter.
//!
//! Threads (design.md §3): the main thread loads the project and then detaches; one loop thread
//! runs asyncio for `aforward` programs; the sync pool runs `forward` programs. Tokio workers
//! never attach: they hand jobs over channels and await a oneshot [`Reply`].

mod async_loop;
mod bridge;
mod convert;
mod cron_run;
mod doorbell;
mod gateway_app;
mod job_queue;
mod once_reply;
mod outcome;
mod startup;
mod sync_pool;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, oneshot};

pub(crate) use bridge::{ProgramRunner, RunResult};
pub(crate) use convert::{BodyKind, CronJobInfo, EngineSettings, ImageCaps, LoadFailure};
pub(crate) use cron_run::CronReport;
pub(crate) use gateway_app::{AsgiRequest, AsgiResponse};
pub(crate) use outcome::Reply;
pub(crate) use startup::{Catalog, LoadError, LoadedProject, ProjectHandles, RunnerHooks, load_project};

use crate::telemetry::{InferenceLog, Origin};
use async_loop::AsyncLoop;
pub(crate) use sync_pool::PoolStats;
use sync_pool::{RIDER_WAIT, RiderFallback, SyncPool};

/// Who serves a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RouteKind {
    /// The Rust fast path, at `path`.
    Http,
    /// A gateway's own FastAPI route; runs only through its `endpoint`.
    GatewayApp,
    /// No HTTP route: the items of the program's cron jobs.
    Cron,
}

/// What a route is, as the HTTP layer sees it (no Python objects).
#[derive(Debug, Clone)]
pub(crate) struct RouteInfo {
    pub(crate) program: Arc<str>,
    pub(crate) path: String,
    pub(crate) method: String,
    pub(crate) model: Arc<str>,
    pub(crate) is_async: bool,
    pub(crate) kind: RouteKind,
    /// For [`RouteKind::GatewayApp`]: the routes the gateway registered (`"POST /hooks/in"`).
    pub(crate) app_routes: Vec<String>,
    /// The gateway's `requires_auth` (anything but a real `False` keeps the route protected).
    pub(crate) requires_auth: bool,
}

/// Everything a job needs to finish on a Python thread without the HTTP handler.
pub(crate) struct JobContext {
    pub(crate) route: usize,
    pub(crate) program: Arc<str>,
    pub(crate) model: Arc<str>,
    pub(crate) started: Instant,
    pub(crate) origin: Origin,
    /// The request's `X-Request-ID`, for its log line (none for cron runs).
    pub(crate) request_id: Option<Arc<str>>,
    pub(crate) reply: oneshot::Sender<Reply>,
    pub(crate) log: InferenceLog,
    /// Set by [`Ticket::abandon`]: the HTTP side answered and logged the request itself, so
    /// the job's own log line is dropped. Locked while the outcome is delivered.
    pub(crate) abandoned: Arc<Mutex<bool>>,
    /// The program's concurrency slot: held until Python is done with the job, even if the
    /// client left or timed out, so abandoned work still counts against the limit.
    _slot: OwnedSemaphorePermit,
}

/// The running engine: routes plus the two execution paths.
pub(crate) struct Engine {
    pub(crate) routes: Vec<RouteInfo>,
    /// Paths registered on the gateways' FastAPI app (FastAPI syntax, e.g. `/hooks/{id}`).
    pub(crate) app_paths: Vec<String>,
    pub(crate) cron_jobs: Vec<CronJobInfo>,
    async_loop: Option<AsyncLoop>,
    sync_pool: SyncPool,
    log: InferenceLog,
}

/// The HTTP side's end of a job: its reply, and the right to give up on it.
pub(crate) struct Ticket {
    reply: oneshot::Receiver<Reply>,
    abandoned: Arc<Mutex<bool>>,
    /// Set when the job was left for a rider of the sync pool.
    rider_fallback: Option<RiderFallback>,
}

impl Ticket {
    /// The reply; `Err` when the engine dropped the job unanswered (it is stopping).
    pub(crate) async fn reply(&mut self) -> Result<Reply, oneshot::error::RecvError> {
        if let Some(mut fallback) = self.rider_fallback.take() {
            loop {
                match tokio::time::timeout(RIDER_WAIT, &mut self.reply).await {
                    Ok(reply) => return reply,
                    Err(_) if fallback.riders_stuck() => break,
                    Err(_) => {}
                }
            }
        }
        (&mut self.reply).await
    }

    /// Give up on the job (request timeout, shutdown deadline). Returns the reply if it arrived
    /// in the meantime; otherwise the job's own log line will be dropped, so that the caller's
    /// line (saying why the request was cut off) is the only one.
    pub(crate) fn abandon(&mut self) -> Option<Reply> {
        let mut abandoned = self.abandoned.lock().expect("abandon lock");
        if let Ok(reply) = self.reply.try_recv() {
            return Some(reply);
        }
        *abandoned = true;
        None
    }
}

/// Cancels the asyncio task of an `aforward` request if dropped before the reply arrived
/// (client disconnected, or a timeout dropped the handler future).
pub(crate) struct CancelOnDrop<'a> {
    target: Option<(&'a AsyncLoop, u64)>,
}

impl CancelOnDrop<'_> {
    pub(crate) fn disarm(&mut self) {
        self.target = None;
    }
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if let Some((async_loop, id)) = self.target.take() {
            async_loop.cancel(id);
        }
    }
}

impl Engine {
    /// Hand a request to the right Python thread; the reply arrives on the returned receiver.
    pub(crate) fn submit(
        &self,
        route: usize,
        body: Bytes,
        kind: BodyKind,
        origin: Origin,
        slot: OwnedSemaphorePermit,
        request_id: Option<Arc<str>>,
    ) -> (Ticket, CancelOnDrop<'_>) {
        let info = &self.routes[route];
        let (tx, rx) = oneshot::channel();
        let abandoned = Arc::new(Mutex::new(false));
        let job = JobContext {
            route,
            program: info.program.clone(),
            model: info.model.clone(),
            started: Instant::now(),
            origin,
            request_id,
            reply: tx,
            log: self.log.clone(),
            abandoned: abandoned.clone(),
            _slot: slot,
        };
        let (target, rider_fallback) = if let (Some(async_loop), true) = (&self.async_loop, info.is_async) {
            (Some((async_loop, async_loop.submit(job, body, kind))), None)
        } else {
            (None, self.sync_pool.submit(job, body, kind))
        };
        let ticket = Ticket {
            reply: rx,
            abandoned,
            rider_fallback,
        };
        (ticket, CancelOnDrop { target })
    }

    /// Hand a request to the gateways' FastAPI app (on the loop thread). Dropping the guard
    /// before the response arrived cancels the app's task.
    pub(crate) fn serve_app(&self, request: AsgiRequest) -> (oneshot::Receiver<AsgiResponse>, CancelOnDrop<'_>) {
        let (reply, rx) = oneshot::channel();
        let target = if let Some(async_loop) = &self.async_loop {
            Some((async_loop, async_loop.submit_asgi(request, reply)))
        } else {
            drop(reply.send(AsgiResponse::error("no asyncio loop runs the gateway app")));
            None
        };
        (rx, CancelOnDrop { target })
    }

    /// Start one run of cron job `job` (on the loop thread).
    pub(crate) fn start_cron_run(&self, job: usize) -> oneshot::Receiver<CronReport> {
        let (reply, rx) = oneshot::channel();
        match &self.async_loop {
            Some(async_loop) => async_loop.handle().send(async_loop::LoopJob::Cron { job, reply }),
            None => drop(reply.send(CronReport::failure("no asyncio loop runs cron jobs"))),
        }
        rx
    }

    pub(crate) fn pool_stats(&self) -> PoolStats {
        self.sync_pool.stats()
    }

    pub(crate) fn loop_tasks(&self) -> u64 {
        self.async_loop.as_ref().map_or(0, AsyncLoop::tasks)
    }

    /// Stop the loop (cancelling its tasks, each logged) and the pool (waiting up to
    /// `sync_wait` for running jobs). Must be called detached from the interpreter.
    pub(crate) fn shutdown(self, sync_wait: std::time::Duration) {
        if let Some(async_loop) = self.async_loop {
            async_loop.stop_and_join();
        }
        self.sync_pool.stop_and_join(sync_wait);
    }
}
