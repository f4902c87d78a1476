//! One run of a cron job on the loop thread (`_runtime.cron.start`), reported back to Rust.

use pyo3::prelude::*;
use tokio::sync::oneshot;

use super::once_reply::OnceReply;

/// How a run went: items that succeeded and failed, and what stopped the run early.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CronReport {
    pub(crate) ok: u64,
    pub(crate) failed: u64,
    pub(crate) error: Option<String>,
}

impl CronReport {
    pub(crate) fn failure(message: impl Into<String>) -> Self {
        Self {
            error: Some(message.into()),
            ..Self::default()
        }
    }

    /// True when the run finished and no item failed.
    pub(crate) fn succeeded(&self) -> bool {
        self.error.is_none() && self.failed == 0
    }
}

/// Called once by `_runtime.cron.start` when the run is over.
#[pyclass(frozen, module = "dspy_cli._native")]
pub(crate) struct CronDone(OnceReply<CronReport>);

impl CronDone {
    pub(crate) fn new(reply: oneshot::Sender<CronReport>) -> Self {
        Self(OnceReply::new(reply))
    }

    pub(crate) fn send(&self, value: CronReport) {
        self.0.send(value);
    }
}

#[pymethods]
impl CronDone {
    #[pyo3(signature = (ok, failed, error))]
    fn __call__(&self, ok: u64, failed: u64, error: Option<String>) {
        self.send(CronReport { ok, failed, error });
    }
}
