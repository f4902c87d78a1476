//! Inference logs: the JSONL line format and the group-commit writer thread.
//!
//! Never touches Python: records arrive as JSON bytes that Python produced.

mod console;
mod inference_log;
mod pyjson;

pub(crate) use console::init_logging;
pub(crate) use inference_log::{InferenceLog, LogRecord};
