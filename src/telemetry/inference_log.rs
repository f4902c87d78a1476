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
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::metrics::MetricsStore;
use super::pyjson::write_python_json;
use super::redact::redact;

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
    /// The request's `X-Request-ID`, written as the line's last field (none for cron runs).
    pub(crate) request_id: Option<Arc<str>>,
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
    pub(crate) fn start(
        logs_dir: PathBuf,
        rotation: Rotation,
        metrics: Arc<MetricsStore>,
    ) -> (Self, std::thread::JoinHandle<()>) {
        let files = Arc::new(LogFiles {
            logs_dir,
            metrics,
            rotation,
            open: RwLock::default(),
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

/// Images the Python side did not save under `logs/img` because of the size caps.
static IMAGES_NOT_SAVED: AtomicU64 = AtomicU64::new(0);

pub(crate) fn count_image_not_saved() {
    IMAGES_NOT_SAVED.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn images_not_saved() -> u64 {
    IMAGES_NOT_SAVED.load(Ordering::Relaxed)
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

/// Size-based rotation of `logs/<Program>.log` (`server.log_max_bytes`, `server.log_backups`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rotation {
    /// A file that would grow past this is rotated first; 0 turns rotation off.
    pub(crate) max_bytes: u64,
    /// Rotated files kept (`P.log.1` newest ... `P.log.N` oldest); 0 keeps none.
    pub(crate) backups: u32,
}

impl Rotation {
    pub(crate) const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;
    pub(crate) const DEFAULT_BACKUPS: u32 = 5;
}

impl Default for Rotation {
    fn default() -> Self {
        Self {
            max_bytes: Self::DEFAULT_MAX_BYTES,
            backups: Self::DEFAULT_BACKUPS,
        }
    }
}

/// `P.log.N`: the N-th newest rotated copy of `P.log`.
pub(crate) fn backup_path(base: &Path, n: u32) -> PathBuf {
    let mut name = base.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// One program's log file behind its own lock: writers of different programs never wait for
/// each other, and a writer waits at most for one other `write()` (or one rotation) of its own.
type FileSlot = Arc<Mutex<Option<OpenFile>>>;

/// The open log files, shared by every thread that writes lines.
struct LogFiles {
    logs_dir: PathBuf,
    metrics: Arc<MetricsStore>,
    rotation: Rotation,
    /// Per program: the open file with the (device, inode) it was opened as. The map's lock is
    /// held only to find or add a slot, never across I/O.
    open: RwLock<HashMap<Arc<str>, FileSlot>>,
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
                        self.metrics.record_written(line);
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

    fn slot(&self, program: &Arc<str>) -> FileSlot {
        if let Some(slot) = self.open.read().expect("log files lock").get(program) {
            return slot.clone();
        }
        let mut open = self.open.write().expect("log files lock");
        open.entry(program.clone()).or_default().clone()
    }

    fn append(&self, program: &Arc<str>, buf: &[u8]) -> std::io::Result<()> {
        let path = self.logs_dir.join(format!("{program}.log"));
        let slot = self.slot(program);
        let mut open = slot.lock().expect("log file lock");
        // Reopen when the file was removed or replaced (rotation by another tool, a deleted
        // logs directory): writing on through the old handle would silently lose the lines.
        // One stat per write.
        let mut metadata = std::fs::metadata(&path).ok();
        if self.needs_rotation(metadata.as_ref(), buf.len()) {
            *open = None;
            match self.rotate_once(&path, buf.len()) {
                Ok(()) => metadata = std::fs::metadata(&path).ok(),
                // Keep writing to the big file rather than lose lines.
                Err(err) => self.warn_rarely(&format!("Could not rotate {}: {err}", path.display())),
            }
        }
        let current = metadata.as_ref().map(|m| (m.dev(), m.ino()));
        let entry = match &mut *open {
            Some(entry) if Some(entry.identity) == current => entry,
            stale => stale.insert(open_append(&self.logs_dir, &path)?),
        };
        let result = entry.file.write_all(buf);
        if result.is_err() {
            // Cut a partly written line (e.g. disk full) so the next one starts clean.
            if let Some(before) = metadata.filter(std::fs::Metadata::is_file).map(|m| m.len()) {
                entry.file.set_len(before).ok();
            }
            *open = None;
        }
        result
    }

    fn needs_rotation(&self, metadata: Option<&std::fs::Metadata>, adding: usize) -> bool {
        let max = self.rotation.max_bytes;
        metadata.is_some_and(|m| m.is_file() && m.len() > 0 && max > 0 && m.len() + adding as u64 > max)
    }

    /// Rotate `path` unless another process sharing it (supervised workers) just did: the
    /// decision is taken again under an exclusive `flock` of the file, and only if the path
    /// still names the file that was locked. Appends need no lock: each batch of lines is one
    /// `write(2)` to an `O_APPEND` file, which the kernel never interleaves with another.
    fn rotate_once(&self, path: &Path, adding: usize) -> std::io::Result<()> {
        let locked = File::open(path)?;
        rustix::fs::flock(&locked, rustix::fs::FlockOperation::LockExclusive)?;
        let locked_identity = locked.metadata().map(|m| (m.dev(), m.ino()))?;
        let now = std::fs::metadata(path).ok();
        let same_file = now.as_ref().is_some_and(|m| (m.dev(), m.ino()) == locked_identity);
        if same_file && self.needs_rotation(now.as_ref(), adding) {
            self.rotate(path)?;
        }
        Ok(())
    }

    /// `P.log` -> `P.log.1` -> ... -> `P.log.N`; the oldest is dropped. Only renames.
    fn rotate(&self, path: &Path) -> std::io::Result<()> {
        let backups = self.rotation.backups;
        if backups == 0 {
            return std::fs::remove_file(path);
        }
        for n in (1..backups).rev() {
            let from = backup_path(path, n);
            if from.exists() {
                std::fs::rename(&from, backup_path(path, n + 1))?;
            }
        }
        std::fs::rename(path, backup_path(path, 1))
    }

    fn report(&self, program: &str, lines: u64, err: &std::io::Error) {
        self.write_errors.fetch_add(lines, Ordering::Relaxed);
        self.warn_rarely(&format!(
            "Failed to write inference log for {program} in {}: {err}. Requests keep being served; lost lines are counted (reported at most once a minute).",
            self.logs_dir.display()
        ));
    }

    /// Log `message` as an error unless one was logged less than a minute ago.
    fn warn_rarely(&self, message: &str) {
        let mut last = self.last_report.lock().expect("report lock");
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
            *last = Some(Instant::now());
            tracing::error!("{message}");
        }
    }
}

/// Open for appending; a last line left without its newline (a crash mid-write) is ended
/// first, so the next line starts on its own line and stays parsable.
fn open_append(dir: &Path, path: &Path) -> std::io::Result<OpenFile> {
    std::fs::create_dir_all(dir)?;
    let mut file = OpenOptions::new().create(true).read(true).append(true).open(path)?;
    let metadata = file.metadata()?;
    if metadata.is_file() && metadata.len() > 0 {
        let mut last = [0u8];
        file.read_exact_at(&mut last, metadata.len() - 1)?;
        if last[0] != b'\n' {
            file.write_all(b"\n")?;
            tracing::warn!(
                "{}: the last line was cut short (the server was killed mid-write); it was ended so new lines stay readable. /api/logs and metrics skip it.",
                path.display()
            );
        }
    }
    Ok(OpenFile {
        file,
        identity: (metadata.dev(), metadata.ino()),
    })
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
/// outputs, [error], success, then tokens, cost_usd, lm_calls when present, then our
/// request_id.
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
        line.insert("error".into(), Value::from(redact(error).as_ref()));
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
    if let Some(id) = &record.request_id {
        line.insert("request_id".into(), Value::from(&**id));
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
            request_id: None,
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
        let (log, handle) = InferenceLog::start(dir.clone(), Rotation::default(), metrics.clone());
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

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dspy-cli-rs-{name}-{}", std::process::id()));
        std::fs::remove_dir_all(&dir).ok();
        dir
    }

    #[test]
    fn request_id_is_the_last_field_and_errors_are_redacted() {
        let mut with_id = record(Some("failed at http://u:pw@h/v1"), None);
        with_id.request_id = Some("req-1".into());
        let text = line(&with_id);
        assert!(text.ends_with(", \"request_id\": \"req-1\"}\n"), "{text}");
        assert!(text.contains("http://***@h/v1") && !text.contains("pw"), "{text}");
    }

    #[test]
    fn a_torn_last_line_is_ended_before_the_next_line() {
        let dir = temp_dir("torn");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("P.log"), "{\"program\": \"P\", \"dur").unwrap();
        let (log, handle) = InferenceLog::start(dir.clone(), Rotation::default(), Arc::default());
        log.pending(record(None, None)).commit().unwrap();
        drop(log);
        handle.join().unwrap();
        let text = std::fs::read_to_string(dir.join("P.log")).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(serde_json::from_str::<Value>(lines[1]).is_ok(), "{text}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn files_rotate_by_size_and_keep_the_configured_backups() {
        let dir = temp_dir("rotate");
        let rotation = Rotation {
            max_bytes: 1000,
            backups: 2,
        };
        let (log, handle) = InferenceLog::start(dir.clone(), rotation, Arc::default());
        let one_line = line(&record(None, None)).len();
        for _ in 0..40 {
            log.pending(record(None, None)).commit().unwrap();
        }
        drop(log);
        handle.join().unwrap();
        let base = dir.join("P.log");
        let count = |p: &Path| std::fs::read_to_string(p).map_or(0, |t| t.lines().count());
        let per_file = 1000 / one_line;
        assert_eq!(count(&backup_path(&base, 1)), per_file);
        assert_eq!(count(&backup_path(&base, 2)), per_file);
        assert!(!backup_path(&base, 3).exists());
        assert_eq!(
            count(&base),
            (40 - 1) % per_file + 1,
            "rotation happens before the write that would overflow"
        );
        for path in [base.clone(), backup_path(&base, 1)] {
            assert!(std::fs::metadata(&path).unwrap().len() <= 1000);
        }
        std::fs::remove_dir_all(dir).ok();
    }
}
