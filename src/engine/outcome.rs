//! Turning the [`Outcome`] that `_runtime.invoke` returns into a [`Reply`] and a log line.

use super::JobContext;
use super::convert::Outcome;
use crate::telemetry::{LogRecord, PendingLog};
use pyo3::prelude::*;

/// The finished response for the HTTP layer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    /// The inference log line; the handler commits it before responding. If the reply is
    /// never read, the line is still written (see [`PendingLog`]).
    pub(crate) log: Option<PendingLog>,
}

fn parse_outcome(job: &JobContext, outcome: &Bound<'_, PyAny>) -> PyResult<(u16, Vec<u8>, Option<LogRecord>)> {
    let Outcome { status, body, log } = outcome.extract()?;
    let record = log.map(|log| LogRecord {
        program: job.program.clone(),
        model: job.model.clone(),
        duration: job.started.elapsed(),
        inputs_json: log.inputs,
        outputs_json: log.outputs,
        error: log.error,
        usage_json: log.usage,
        origin: job.origin,
        request_id: job.request_id.clone(),
    });
    Ok((status, body, record))
}

/// Deliver a job's outcome: queue its log line (even if the client is gone), then reply.
pub(crate) fn deliver(job: JobContext, outcome: &Bound<'_, PyAny>) {
    let abandoned = job.abandoned.clone();
    // Held until the reply is sent, so the handler either sees the reply or has abandoned first.
    let abandoned = abandoned.lock().expect("abandon lock");
    let reply = match parse_outcome(&job, outcome) {
        Ok((status, body, record)) => Reply {
            status,
            body,
            // An abandoned request was already logged by its handler (as a timeout or cut off).
            log: record.filter(|_| !*abandoned).map(|r| job.log.pending(r)),
        },
        Err(err) => internal_error(&format!("malformed outcome from the Python runtime: {err}")),
    };
    // If the client is gone the reply is dropped here, and its PendingLog hands the line to the
    // background writer.
    job.reply.send(reply).ok();
    drop(abandoned);
}

/// A 500 for failures of the engine itself (never the module's own errors).
pub(crate) fn internal_error(message: &str) -> Reply {
    tracing::error!("{message}");
    let body = serde_json::json!({ "detail": message }).to_string().into_bytes();
    Reply {
        status: 500,
        body,
        log: None,
    }
}

/// A short description of a Python exception: `TypeName: message`.
pub(crate) fn describe_error(py: Python<'_>, err: &PyErr) -> String {
    let type_name = err
        .get_type(py)
        .name()
        .map_or_else(|_| "Exception".into(), |n| n.to_string());
    format!("{type_name}: {}", err.value(py))
}
