//! How Python code on the loop thread runs a program through the Rust engine: the `endpoint` of
//! a gateway that registered its own FastAPI route, and the items of cron jobs.
//!
//! Such a run takes the same path as an HTTP request (concurrency slot, sync pool or loop,
//! inference log, metrics), provided by the HTTP layer as a [`ProgramRunner`]. The result comes
//! back to the asyncio future through the loop's channel, so no tokio worker ever waits for the
//! interpreter.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::async_loop::{LoopHandle, LoopJob};
use crate::telemetry::{InferenceLog, LogRecord, Origin};

/// The status and JSON body of one program run.
pub(crate) type RunResult = (u16, Bytes);

/// Runs a program like an HTTP request would (implemented by the HTTP layer).
pub(crate) trait ProgramRunner: Send + Sync + 'static {
    fn run(&self, route: usize, body: Bytes, origin: Origin) -> Pin<Box<dyn Future<Output = RunResult> + Send>>;
}

/// `dspy_cli._runtime.asgi.bridge`: called from the loop thread only.
#[pyclass(frozen, module = "dspy_cli._native")]
pub(crate) struct ProgramBridge {
    runner: Arc<dyn ProgramRunner>,
    runtime: tokio::runtime::Handle,
    loop_handle: LoopHandle,
    log: InferenceLog,
    /// Program name and model of each engine route, for [`ProgramBridge::record`].
    routes: Vec<(Arc<str>, Arc<str>)>,
}

impl ProgramBridge {
    pub(crate) fn new(
        runner: Arc<dyn ProgramRunner>,
        runtime: tokio::runtime::Handle,
        loop_handle: LoopHandle,
        log: InferenceLog,
        routes: Vec<(Arc<str>, Arc<str>)>,
    ) -> Self {
        Self {
            runner,
            runtime,
            loop_handle,
            log,
            routes,
        }
    }
}

#[pymethods]
impl ProgramBridge {
    /// Start a run of engine route `route`; `future` (of the loop) gets `(status, body)`.
    fn run(&self, route: usize, body: &Bound<'_, PyBytes>, origin: &str, future: Py<PyAny>) {
        let body = Bytes::copy_from_slice(body.as_bytes());
        let (runner, loop_handle, origin) = (self.runner.clone(), self.loop_handle.clone(), Origin::from_name(origin));
        self.runtime.spawn(async move {
            let (status, body) = runner.run(route, body, origin).await;
            loop_handle.send(LoopJob::Resolve { future, status, body });
        });
    }

    /// Write the log line of one item that ran outside the engine (batch cron runs).
    #[pyo3(signature = (route, inputs_json, outputs_json, error, duration_ms, origin))]
    fn record(
        &self,
        route: usize,
        inputs_json: &Bound<'_, PyBytes>,
        outputs_json: &Bound<'_, PyBytes>,
        error: Option<String>,
        duration_ms: f64,
        origin: &str,
    ) {
        let Some((program, model)) = self.routes.get(route) else {
            return tracing::error!("log record for unknown route {route}");
        };
        let record = LogRecord {
            program: program.clone(),
            model: model.clone(),
            duration: Duration::from_secs_f64(duration_ms.max(0.0) / 1000.0),
            inputs_json: inputs_json.as_bytes().to_vec(),
            outputs_json: outputs_json.as_bytes().to_vec(),
            error,
            usage_json: None,
            request_id: None,
            origin: Origin::from_name(origin),
        };
        let pending = self.log.pending(record);
        inputs_json.py().detach(|| pending.commit());
    }
}
