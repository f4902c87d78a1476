//! Turning the outcome tuple that `_runtime.invoke` returns into a [`Reply`] and a log line.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use tokio::sync::oneshot;

use super::JobContext;
use crate::telemetry::LogRecord;

/// The finished response for the HTTP layer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    /// Resolves once the inference log line is written; the response must wait for it.
    pub(crate) logged: Option<oneshot::Receiver<()>>,
}

fn bytes_of(value: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    Ok(value.cast::<PyBytes>()?.as_bytes().to_vec())
}

fn parse_outcome(job: &JobContext, outcome: &Bound<'_, PyAny>) -> PyResult<(u16, Vec<u8>, Option<LogRecord>)> {
    let tuple = outcome.cast::<PyTuple>()?;
    let status: u16 = tuple.get_item(0)?.extract()?;
    let body = bytes_of(&tuple.get_item(1)?)?;
    let log = tuple.get_item(2)?;
    if log.is_none() {
        return Ok((status, body, None));
    }
    let log = log.cast::<PyTuple>()?;
    let usage = log.get_item(3)?;
    let record = LogRecord {
        program: job.program.clone(),
        model: job.model.clone(),
        duration: job.started.elapsed(),
        inputs_json: bytes_of(&log.get_item(0)?)?,
        outputs_json: bytes_of(&log.get_item(1)?)?,
        error: log.get_item(2)?.extract()?,
        usage_json: if usage.is_none() { None } else { Some(bytes_of(&usage)?) },
    };
    Ok((status, body, Some(record)))
}

/// Deliver a job's outcome: queue its log line (even if the client is gone), then reply.
pub(crate) fn deliver(job: JobContext, outcome: &Bound<'_, PyAny>) {
    let reply = match parse_outcome(&job, outcome) {
        Ok((status, body, record)) => Reply {
            status,
            body,
            logged: record.map(|r| job.log.append(r)),
        },
        Err(err) => internal_error(&format!("malformed outcome from the Python runtime: {err}")),
    };
    // The receiver is gone if the client disconnected; the log line is queued regardless.
    job.reply.send(reply).ok();
}

/// A 500 for failures of the engine itself (never the module's own errors).
pub(crate) fn internal_error(message: &str) -> Reply {
    tracing::error!("{message}");
    let body = serde_json::json!({ "detail": message }).to_string().into_bytes();
    Reply {
        status: 500,
        body,
        logged: None,
    }
}

/// A short description of a Python exception: `TypeName: message`.
pub(crate) fn describe_error(py: Python<'_>, err: &PyErr) -> String {
    let type_name = err
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".into());
    format!("{type_name}: {}", err.value(py))
}
