//! Inference logs, metrics and console logging.
//!
//! Never touches Python: records arrive as JSON bytes that Python produced.

mod console;
mod inference_log;
mod latency;
mod log_tail;
mod metrics;
mod prometheus;
mod pyjson;
mod redact;
mod shared_logs;

pub(crate) use console::init_logging;
pub(crate) use inference_log::{
    InferenceLog, LogRecord, Origin, PendingLog, Rotation, count_image_not_saved, images_not_saved,
};
pub(crate) use log_tail::{capped_limit, log_and_backups, newest_entries};
pub(crate) use metrics::{MetricsStore, UsageTotals, sort_programs};
pub(crate) use prometheus::{EngineGauges, HttpMetrics};
pub(crate) use redact::redact;
