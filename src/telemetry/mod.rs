//! Inference logs, metrics and console logging.
//!
//! Never touches Python: records arrive as JSON bytes that Python produced.

mod console;
mod inference_log;
mod log_tail;
mod metrics;
mod prometheus;
mod pyjson;

pub(crate) use console::init_logging;
pub(crate) use inference_log::{InferenceLog, LogRecord, Origin, PendingLog};
pub(crate) use log_tail::newest_entries;
pub(crate) use metrics::{MetricsStore, UsageTotals, sort_programs};
pub(crate) use prometheus::{EngineGauges, HttpMetrics};
