//! `logs/<Program>.log`: one JSON object per inference.
//!
//! Durability contract: a request's response is sent only after its line was handed to the
//! kernel (`write(2)` returned). The HTTP handler appends the line itself right before it
//! responds, so the common path needs no extra thread hand-off. A record whose request is gone
//! (client disconnected, timeout, shutdown) is written by a background thread instead, in
//! batches: [`PendingLog`] makes sure one of the two always happens.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

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
    /// What started the run; lines of cron runs end with `"source": "cron"`.
    pub(crate) origin: Origin,
}

/// What started a program run. HTTP lines keep upstream's exact fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Http,
    Cron,
}

impl Origin {
    /// The name Python uses for it (`"http"`, `"cron"`).
    pub(crate) fn from_name(name: &str) -> Self {
        if name == "cron" { Self::Cron } else { Self::Http }
    }
}

type LogLine = Map<String, Value>;

/// Work for the background thread: orphaned records, or a flush marker to acknowledge.
enum Orphan {
    Record(LogRecord),
    Flush(std::sync::mpsc::Sender<()>),
}

/// Handle to the log files and the background thread. Cloning shares both.
#[derive(Clone)]
pub(crate) struct InferenceLog {
    files: Arc<LogFiles>,
    orphans: crossbeam_channel::Sender<Orphan>,
}

impl InferenceLog {
    /// Open the log directory's writer and start the thread for orphaned records.
    pub(crate) fn start(logs_dir: PathBuf, metrics: Arc<MetricsStore>) -> (Self, std::thread::JoinHandle<()>) {
        let files = Arc::new(LogFiles {
            logs_dir,
            metrics,
            open: Mutex::default(),
            write_errors: AtomicU64::new(0),
            lines_written: AtomicU64::new(0),
            last_report: Mutex::new(None),
        });
        let (orphans, rx) = crossbeam_channel::unbounded();
        let background = files.clone();
        let handle = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || write_orphans(&background, &rx))
            .expect("spawning the log writer thread");
        (Self { files, orphans }, handle)
    }

    pub(crate) fn lines_written(&self) -> u64 {
        self.files.lines_written.load(Ordering::Relaxed)
    }

    /// Lines lost to write errors (full disk, unwritable directory) since start.
    pub(crate) fn write_errors(&self) -> u64 {
        self.files.write_errors.load(Ordering::Relaxed)
    }

    /// Wrap a record so it is written either by [`PendingLog::commit`] or, if that never
    /// happens, by the background thread.
    pub(crate) fn pending(&self, record: LogRecord) -> PendingLog {
        PendingLog {
            record: Some(record),
            log: self.clone(),
        }
    }

    /// Wait (up to `timeout`) until every orphaned record queued so far is written.
    pub(crate) fn flush(&self, timeout: Duration) {
        let (ack, done) = std::sync::mpsc::channel();
        if self.orphans.send(Orphan::Flush(ack)).is_ok() {
            done.recv_timeout(timeout).ok();
        }
    }
}

/// A log line owed for one request.
pub(crate) struct PendingLog {
    record: Option<LogRecord>,
    log: InferenceLog,
}

impl PendingLog {
    /// Write the line now, on this thread (a short append to the page cache).
    /// The error is already reported and counted; the caller decides whether to acknowledge.
    pub(crate) fn commit(mut self) -> std::io::Result<()> {
        match self.record.take() {
            Some(record) => self.log.files.write(&[record]),
            None => Ok(()),
        }
    }
}

impl Drop for PendingLog {
    fn drop(&mut self) {
        if let Some(record) = self.record.take() {
            // Nobody will commit it (the request was abandoned): the background thread will.
            self.log.orphans.send(Orphan::Record(record)).ok();
        }
    }
}

impl std::fmt::Debug for PendingLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLog")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

const MAX_BATCH: usize = 512;

fn write_orphans(files: &LogFiles, rx: &crossbeam_channel::Receiver<Orphan>) {
    // Ends when every sender is dropped and the queue is drained.
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter().take(MAX_BATCH));
        let mut records = Vec::new();
        let mut acks = Vec::new();
        for orphan in batch {
            match orphan {
                Orphan::Record(record) => records.push(record),
                Orphan::Flush(ack) => acks.push(ack),
            }
        }
        // Failures are reported and counted inside; nobody is waiting to be told.
        files.write(&records).ok();
        for ack in acks {
            ack.send(()).ok();
        }
    }
}

/// The open log files, shared by every thread that writes lines.
struct LogFiles {
    logs_dir: PathBuf,
    metrics: Arc<MetricsStore>,
    /// Open files with the (device, inode) they were opened as.
    open: Mutex<HashMap<Arc<str>, OpenFile>>,
    write_errors: AtomicU64,
    lines_written: AtomicU64,
    last_report: Mutex<Option<Instant>>,
}

struct OpenFile {
    file: File,
    identity: (u64, u64),
}

impl LogFiles {
    /// Format and append `records` (one write per program), then count them in the metrics.
    /// The last append error, if any (each is also reported and counted).
    fn write(&self, records: &[LogRecord]) -> std::io::Result<()> {
        let mut result = Ok(());
        let timestamp = utc_timestamp();
        // Per program: the bytes to append and the lines they hold (for metrics).
        let mut by_program: HashMap<&Arc<str>, (Vec<u8>, Vec<LogLine>)> = HashMap::new();
        for record in records {
            let (buf, lines) = by_program.entry(&record.program).or_default();
            lines.push(format_line(buf, record, &timestamp));
        }
        for (program, (buf, lines)) in by_program {
            let count = lines.len() as u64;
            match self.append(program, &buf) {
                Ok(()) => {
                    // Count only what reached the file, so metrics agree with it.
                    for line in &lines {
                        self.metrics.record(line);
                    }
                    self.lines_written.fetch_add(count, Ordering::Relaxed);
                }
                Err(e) => {
                    self.report(program, count, &e);
                    result = Err(e);
                }
            }
        }
        result
    }

    fn append(&self, program: &Arc<str>, buf: &[u8]) -> std::io::Result<()> {
        let path = self.logs_dir.join(format!("{program}.log"));
        let mut open = self.open.lock().expect("log files lock");
        // Reopen when the file was removed or replaced (rotation, a deleted logs directory):
        // writing on through the old handle would silently lose the lines. One stat per write.
        let metadata = std::fs::metadata(&path).ok();
        let current = metadata.as_ref().map(|m| (m.dev(), m.ino()));
        if open.get(program).is_none_or(|f| Some(f.identity) != current) {
            open.remove(program);
            let file = open_append(&self.logs_dir, &path)?;
            let metadata = file.metadata()?;
            open.insert(
                program.clone(),
                OpenFile {
                    file,
                    identity: (metadata.dev(), metadata.ino()),
                },
            );
        }
        let entry = open.get_mut(program).expect("opened above");
        let result = entry.file.write_all(buf);
        if result.is_err() {
            // Cut a partly written line (e.g. disk full) so the next one starts clean.
            if let Some(before) = metadata.filter(std::fs::Metadata::is_file).map(|m| m.len()) {
                entry.file.set_len(before).ok();
            }
            open.remove(program);
        }
        result
    }

    fn report(&self, program: &str, lines: u64, err: &std::io::Error) {
        self.write_errors.fetch_add(lines, Ordering::Relaxed);
        let mut last = self.last_report.lock().expect("report lock");
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
            *last = Some(Instant::now());
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

/// `inputs` is always an object, as upstream's. Anything else (a body that is not a JSON
/// object, JSON nested deeper than the parser's limit) is kept under `_raw`.
fn inputs_object(bytes: &[u8]) -> Value {
    match parse_or_str(bytes) {
        Value::Object(map) => Value::Object(map),
        other => serde_json::json!({ "_raw": other }),
    }
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
    line.insert("inputs".into(), inputs_object(&record.inputs_json));
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
    if record.origin == Origin::Cron {
        line.insert("source".into(), Value::from("cron"));
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
            origin: Origin::Http,
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
    fn inputs_stay_an_object_whatever_arrives() {
        let deep = format!("{{\"x\": {}{}}}", "[".repeat(300), "]".repeat(300));
        for (inputs, raw) in [
            ("[1, 2]", serde_json::json!([1, 2])),
            ("{\"q\": NaN}", Value::from("{\"q\": NaN}")),
            (deep.as_str(), Value::from(deep.as_str())),
        ] {
            let mut rec = record(None, None);
            rec.inputs_json = inputs.as_bytes().to_vec();
            let text = line(&rec);
            let parsed: Value = serde_json::from_str(&text).expect("a valid JSON line");
            assert_eq!(parsed["inputs"], serde_json::json!({ "_raw": raw }), "{inputs}");
        }
    }

    #[test]
    fn committed_and_abandoned_records_are_all_written() {
        let dir = std::env::temp_dir().join(format!("dspy-cli-rs-log-{}", std::process::id()));
        let metrics = Arc::new(MetricsStore::default());
        let (log, handle) = InferenceLog::start(dir.clone(), metrics.clone());
        for i in 0..6 {
            let pending = log.pending(record(None, None));
            if i % 2 == 0 {
                pending.commit().unwrap(); // written at once
            } // else dropped: the background thread writes it
        }
        // The committed ones are on disk before the call returns.
        assert!(std::fs::read_to_string(dir.join("P.log")).unwrap().lines().count() >= 3);
        log.flush(Duration::from_secs(5));
        drop(log);
        handle.join().unwrap();
        let text = std::fs::read_to_string(dir.join("P.log")).unwrap();
        assert_eq!(text.lines().count(), 6);
        assert_eq!(metrics.program_json("P")["call_count"], 6);
        std::fs::remove_dir_all(dir).ok();
    }
}
