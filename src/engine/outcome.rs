//! Turning the outcome tuple that `_runtime.invoke` returns into a [`Reply`] and a log line.

use super::JobContext;
use crate::telemetry::{LogRecord, PendingLog};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

/// The finished response for the HTTP layer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    /// The inference log line; the handler commits it before responding. If the reply is
    /// never read, the line is still written (see [`PendingLog`]).
    pub(crate) log: Option<PendingLog>,
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
        origin: job.origin,
        request_id: job.request_id.clone(),
    };
    Ok((status, body, Some(record)))
}

/// Deliver a job's outcome: queue its log line (even if the client is gone), then reply.
pub(crate) fn deliver(job: JobContext, outcome: &Bound<'_, PyAny>) {
    let reply = match parse_outcome(&job, outcome) {
        Ok((status, body, record)) => Reply {
            status,
            body,
            log: record.map(|r| job.log.pending(r)),
        },
        Err(err) => internal_error(&format!("malformed outcome from the Python runtime: {err}")),
    };
    // If the client is gone the reply is dropped here, and its PendingLog hands the line to the
    // background writer.
    job.reply.send(reply).ok();
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
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".into());
    format!("{type_name}: {}", err.value(py))
}
