//! `logs/<Program>.log`: one JSON object per inference, appended by one writer thread.
//!
//! Durability contract: a request's response is sent only after its line was handed to the
//! kernel (`write(2)` returned). The writer batches every line waiting in its queue into one
//! write per file (group commit), so this costs one syscall per batch, not per request.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use tokio::sync::oneshot;

use super::metrics::MetricsStore;
use super::pyjson::write_python_json;

/// Everything one log line holds; JSON parts arrive as bytes produced by Python.
#[derive(Debug)]
pub(crate) struct LogRecord {
    pub(crate) program: Arc<str>,
    pub(crate) model: Arc<str>,
    pub(crate) duration: Duration,
    pub(crate) inputs_json: Vec<u8>,
    pub(crate) outputs_json: Vec<u8>,
    pub(crate) error: Option<String>,
    /// `{"<lm>": [{"prompt_tokens": .., "completion_tokens": .., "cost": ..}, ...]}` from DSPy
    /// usage tracking (`cost` when DSPy priced the call).
    pub(crate) usage_json: Option<Vec<u8>>,
}

/// A queued line, or (record None) a flush marker acknowledged once everything before it is written.
type LogLine = Map<String, Value>;

struct Pending {
    record: Option<LogRecord>,
    ack: oneshot::Sender<()>,
}

/// Handle to the writer thread. Cloning shares the same thread.
#[derive(Clone)]
pub(crate) struct InferenceLog {
    tx: crossbeam_channel::Sender<Pending>,
    write_errors: Arc<AtomicU64>,
    lines_written: Arc<AtomicU64>,
}

impl InferenceLog {
    /// Start the writer thread appending to `<logs_dir>/<Program>.log`.
    pub(crate) fn start(logs_dir: PathBuf, metrics: Arc<MetricsStore>) -> (Self, std::thread::JoinHandle<()>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let write_errors = Arc::new(AtomicU64::new(0));
        let lines_written = Arc::new(AtomicU64::new(0));
        let mut writer = Writer {
            logs_dir,
            metrics,
            files: HashMap::new(),
            write_errors: write_errors.clone(),
            lines_written: lines_written.clone(),
            last_report: None,
        };
        let handle = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || writer.run(&rx))
            .expect("spawning the log writer thread");
        (
            Self {
                tx,
                write_errors,
                lines_written,
            },
            handle,
        )
    }

    pub(crate) fn lines_written(&self) -> u64 {
        self.lines_written.load(Ordering::Relaxed)
    }

    /// Lines lost to write errors (full disk, unwritable directory) since start.
    pub(crate) fn write_errors(&self) -> u64 {
        self.write_errors.load(Ordering::Relaxed)
    }

    /// Queue a record; the returned receiver resolves once its line is written (or failed).
    pub(crate) fn append(&self, record: LogRecord) -> oneshot::Receiver<()> {
        let (ack, done) = oneshot::channel();
        // If the writer is gone we are shutting down; the dropped sender resolves `done`.
        self.tx
            .send(Pending {
                record: Some(record),
                ack,
            })
            .ok();
        done
    }

    /// Wait (up to `timeout`) until every line queued so far is written.
    pub(crate) fn flush(&self, timeout: Duration) {
        let (ack, done) = std::sync::mpsc::channel::<()>();
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Pending { record: None, ack: tx }).is_err() {
            return;
        }
        std::thread::spawn(move || {
            rx.blocking_recv().ok();
            ack.send(()).ok();
        });
        done.recv_timeout(timeout).ok();
    }
}

struct Writer {
    logs_dir: PathBuf,
    metrics: Arc<MetricsStore>,
    /// Open files with the (device, inode) they were opened as.
    files: HashMap<Arc<str>, (File, (u64, u64))>,
    write_errors: Arc<AtomicU64>,
    lines_written: Arc<AtomicU64>,
    last_report: Option<Instant>,
}

const MAX_BATCH: usize = 512;

impl Writer {
    fn run(&mut self, rx: &crossbeam_channel::Receiver<Pending>) {
        // Ends when every sender is dropped and the queue is drained.
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            self.write_batch(batch);
        }
    }

    fn write_batch(&mut self, batch: Vec<Pending>) {
        // Per program: the bytes to append and the lines they hold (for metrics).
        let mut by_program: HashMap<Arc<str>, (Vec<u8>, Vec<LogLine>)> = HashMap::new();
        let mut acks = Vec::with_capacity(batch.len());
        for Pending { record, ack } in batch {
            if let Some(record) = record {
                let (buf, lines) = by_program.entry(record.program.clone()).or_default();
                lines.push(format_line(buf, &record, &utc_timestamp()));
            }
            acks.push(ack);
        }
        for (program, (buf, lines)) in by_program {
            let count = lines.len() as u64;
            match self.write_file(&program, &buf) {
                Ok(()) => {
                    // Count only what reached the file, so metrics agree with it.
                    for line in &lines {
                        self.metrics.record(line);
                    }
                    self.lines_written.fetch_add(count, Ordering::Relaxed);
                }
                Err(e) => self.report(&program, count, &e),
            }
        }
        for ack in acks {
            ack.send(()).ok();
        }
    }

    fn write_file(&mut self, program: &Arc<str>, buf: &[u8]) -> std::io::Result<()> {
        let path = self.logs_dir.join(format!("{program}.log"));
        // Reopen when the file was removed or replaced (log rotation, a deleted logs directory):
        // writing on through the old handle would silently lose the lines. One stat per batch.
        let current = std::fs::metadata(&path).ok().map(|m| (m.dev(), m.ino()));
        let stale = self
            .files
            .get(program)
            .is_none_or(|(_, identity)| Some(*identity) != current);
        if stale {
            self.files.remove(program);
            let file = open_append(&self.logs_dir, &path)?;
            let metadata = file.metadata()?;
            self.files
                .insert(program.clone(), (file, (metadata.dev(), metadata.ino())));
        }
        let (file, _) = self.files.get_mut(program).expect("inserted above");
        let length_before = file.metadata()?.len();
        let result = file.write_all(buf);
        if result.is_err() {
            // Cut a partly written batch (e.g. disk full) so the next line starts clean.
            file.set_len(length_before).ok();
            self.files.remove(program);
        }
        result
    }

    fn report(&mut self, program: &str, lines: u64, err: &std::io::Error) {
        self.write_errors.fetch_add(lines, Ordering::Relaxed);
        let due = self.last_report.is_none_or(|t| t.elapsed() >= Duration::from_secs(60));
        if due {
            self.last_report = Some(Instant::now());
            tracing::error!(
                "Failed to write inference log for {program} in {}: {err}. Requests keep being served; lost lines are counted (reported at most once a minute).",
                self.logs_dir.display()
            );
        }
    }
}

fn open_append(dir: &Path, path: &Path) -> std::io::Result<File> {
    std::fs::create_dir_all(dir)?;
    OpenOptions::new().create(true).append(true).open(path)
}

/// Python's `datetime.isoformat()` of a UTC time: microseconds dropped when zero.
pub(crate) fn isoformat_utc(time: chrono::DateTime<chrono::Utc>) -> String {
    if time.timestamp_subsec_micros() == 0 {
        time.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
    } else {
        time.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
    }
}

fn utc_timestamp() -> String {
    isoformat_utc(chrono::Utc::now())
}

fn parse_or_str(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

fn round_to(x: f64, places: i32) -> f64 {
    let factor = 10f64.powi(places);
    (x * factor).round() / factor
}

/// Write one line with upstream's key order: timestamp, program, model, duration_ms, inputs,
/// outputs, [error], success, then tokens, cost_usd, lm_calls when present.
fn format_line(out: &mut Vec<u8>, record: &LogRecord, timestamp: &str) -> Map<String, Value> {
    let mut line = Map::new();
    line.insert("timestamp".into(), Value::from(timestamp));
    line.insert("program".into(), Value::from(&*record.program));
    line.insert("model".into(), Value::from(&*record.model));
    line.insert(
        "duration_ms".into(),
        Value::from(round_to(record.duration.as_secs_f64() * 1000.0, 2)),
    );
    line.insert("inputs".into(), parse_or_str(&record.inputs_json));
    line.insert("outputs".into(), parse_or_str(&record.outputs_json));
    if let Some(error) = &record.error {
        line.insert("error".into(), Value::from(error.as_str()));
    }
    line.insert("success".into(), Value::from(record.error.is_none()));
    let usage = record
        .usage_json
        .as_deref()
        .map(|u| usage_fields(&parse_or_str(u), timestamp))
        .unwrap_or_default();
    if let Some(tokens) = usage.tokens {
        line.insert("tokens".into(), tokens);
    }
    if let Some(cost) = usage.cost_usd {
        line.insert("cost_usd".into(), Value::from(round_to(cost, 8)));
    }
    if let Some(calls) = usage.lm_calls {
        line.insert("lm_calls".into(), calls);
    }
    write_python_json(out, &line);
    out.push(b'\n');
    line
}

/// The optional tail of a log line, from DSPy's usage tracker.
#[derive(Default)]
struct UsageFields {
    tokens: Option<Value>,
    /// Sum over the calls DSPy priced; None when it priced none.
    cost_usd: Option<f64>,
    lm_calls: Option<Value>,
}

/// `tokens` totals, `cost_usd` and one `lm_calls` entry per LM call.
fn usage_fields(usage: &Value, timestamp: &str) -> UsageFields {
    let Some(per_model) = usage.as_object() else {
        return UsageFields::default();
    };
    let (mut prompt, mut completion) = (0u64, 0u64);
    let mut cost_usd: Option<f64> = None;
    let mut calls = Vec::new();
    for (model, entries) in per_model {
        for entry in entries.as_array().into_iter().flatten() {
            let p = entry.get("prompt_tokens").and_then(Value::as_u64).unwrap_or(0);
            let c = entry.get("completion_tokens").and_then(Value::as_u64).unwrap_or(0);
            prompt += p;
            completion += c;
            let cost = entry.get("cost").and_then(Value::as_f64);
            if let Some(cost) = cost {
                *cost_usd.get_or_insert(0.0) += cost;
            }
            let mut call = Map::new();
            call.insert("model".into(), Value::from(model.as_str()));
            call.insert("timestamp".into(), Value::from(timestamp));
            call.insert("prompt_tokens".into(), Value::from(p));
            call.insert("completion_tokens".into(), Value::from(c));
            call.insert("cost_usd".into(), cost.map_or(Value::Null, Value::from));
            calls.push(Value::Object(call));
        }
    }
    let tokens = (prompt + completion > 0).then(|| {
        serde_json::json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
    });
    UsageFields {
        tokens,
        cost_usd,
        lm_calls: (!calls.is_empty()).then_some(Value::Array(calls)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(error: Option<&str>, usage: Option<&str>) -> LogRecord {
        LogRecord {
            program: "P".into(),
            model: "openai/m".into(),
            duration: Duration::from_micros(16_494),
            inputs_json: br#"{"q":"caf\u00e9"}"#.to_vec(),
            outputs_json: if error.is_some() {
                b"{}".to_vec()
            } else {
                br#"{"a":"x"}"#.to_vec()
            },
            error: error.map(str::to_owned),
            usage_json: usage.map(|u| u.as_bytes().to_vec()),
        }
    }

    fn line(record: &LogRecord) -> String {
        let mut out = Vec::new();
        format_line(&mut out, record, "2026-11-28T04:43:18.683215+00:00");
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn success_line_matches_upstream_shape() {
        assert_eq!(
            line(&record(None, None)),
            "{\"timestamp\": \"2026-11-28T04:43:18.683215+00:00\", \"program\": \"P\", \"model\": \"openai/m\", \"duration_ms\": 16.49, \"inputs\": {\"q\": \"caf\\u00e9\"}, \"outputs\": {\"a\": \"x\"}, \"success\": true}\n"
        );
    }

    #[test]
    fn error_comes_before_success_and_usage_adds_tokens() {
        let text = line(&record(
            Some("boom"),
            Some(
                r#"{"openai/m": [{"prompt_tokens": 10, "completion_tokens": 5, "cost": 0.25}, {"prompt_tokens": 1, "completion_tokens": 1, "cost": 0.5}]}"#,
            ),
        ));
        let expected = concat!(
            "\"outputs\": {}, \"error\": \"boom\", \"success\": false, ",
            "\"tokens\": {\"prompt_tokens\": 11, \"completion_tokens\": 6, \"total_tokens\": 17}, ",
            "\"cost_usd\": 0.75, \"lm_calls\": [{\"model\": \"openai/m\"",
        );
        assert!(text.contains(expected), "{text}");
        assert!(text.contains("\"cost_usd\": 0.25}"), "{text}");
    }

    #[test]
    fn writer_appends_and_acks() {
        let dir = std::env::temp_dir().join(format!("dspy-cli-rs-log-{}", std::process::id()));
        let metrics = Arc::new(MetricsStore::default());
        let (log, handle) = InferenceLog::start(dir.clone(), metrics.clone());
        let acks: Vec<_> = (0..5).map(|_| log.append(record(None, None))).collect();
        for ack in acks {
            ack.blocking_recv().unwrap();
        }
        drop(log);
        handle.join().unwrap();
        let text = std::fs::read_to_string(dir.join("P.log")).unwrap();
        assert_eq!(text.lines().count(), 5);
        assert_eq!(metrics.program_json("P")["call_count"], 5);
        std::fs::remove_dir_all(dir).ok();
    }
}
