//! Per-program inference metrics for `/api/metrics`, kept in memory.
//!
//! Fed by the log writer with the exact JSON of every line it writes, and seeded at start-up by
//! reading the same lines back from `logs/<Program>.log`: both paths go through
//! [`MetricsStore::record`], so the numbers always agree with the log files.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value, json};

use super::inference_log::isoformat_utc;
use super::latency::LatencyHistogram;
use super::log_tail::log_and_backups;
use super::shared_logs::{Cursor, catch_up};

#[derive(Debug, Default, Clone)]
struct ModelBreakdown {
    calls: u64,
    prompt_tokens: u64,
    completion_tokens: u64,
    cost_usd: f64,
}

#[derive(Debug, Default)]
pub(crate) struct ProgramMetrics {
    calls: u64,
    successes: u64,
    errors: u64,
    last_call: Option<(DateTime<FixedOffset>, String)>,
    latency: LatencyHistogram,
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    cost_usd: Option<f64>,
    breakdown: BTreeMap<String, ModelBreakdown>,
}

fn uint(value: Option<&Value>) -> u64 {
    value.and_then(Value::as_u64).unwrap_or(0)
}

fn round_to(x: f64, places: i32) -> f64 {
    let factor = 10f64.powi(places);
    (x * factor).round() / factor
}

/// Costs keep the 8 decimals of the log lines' `cost_usd`, in the total and in the per-model
/// breakdown alike (upstream rounded the total to 6 and left the breakdown unrounded, so the
/// two disagreed: 0.000037 beside 0.0000369).
fn round_cost(cost: f64) -> f64 {
    round_to(cost, 8)
}

impl ProgramMetrics {
    fn record(&mut self, entry: &Map<String, Value>) {
        self.calls += 1;
        if entry.get("success").and_then(Value::as_bool).unwrap_or(true) {
            self.successes += 1;
        } else {
            self.errors += 1;
        }
        if let Some(text) = entry.get("timestamp").and_then(Value::as_str)
            && let Ok(parsed) = parse_timestamp(text)
            && self.last_call.as_ref().is_none_or(|(t, _)| parsed > *t)
        {
            self.last_call = Some((parsed, isoformat_utc(parsed.with_timezone(&chrono::Utc))));
        }
        if let Some(duration) = entry.get("duration_ms").and_then(Value::as_f64) {
            self.latency.record(duration);
        }
        if let Some(tokens) = entry.get("tokens").and_then(Value::as_object) {
            self.prompt_tokens += uint(tokens.get("prompt_tokens"));
            self.completion_tokens += uint(tokens.get("completion_tokens"));
            self.total_tokens += uint(tokens.get("total_tokens"));
        }
        if let Some(cost) = entry.get("cost_usd").and_then(Value::as_f64) {
            *self.cost_usd.get_or_insert(0.0) += cost;
        }
        for call in entry.get("lm_calls").and_then(Value::as_array).into_iter().flatten() {
            let model = call
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_owned();
            let breakdown = self.breakdown.entry(model).or_default();
            breakdown.calls += 1;
            breakdown.prompt_tokens += uint(call.get("prompt_tokens"));
            breakdown.completion_tokens += uint(call.get("completion_tokens"));
            breakdown.cost_usd += call.get("cost_usd").and_then(Value::as_f64).unwrap_or(0.0);
        }
    }

    fn snapshot(&self, program: &str) -> Value {
        let avg = self.latency.mean_ms().map(|m| round_to(m, 2));
        // Nearest rank (upstream used a floor index, which under-reports).
        let p95 = self.latency.quantile_ms(0.95).map(|p| round_to(p, 2));
        let breakdown: Map<String, Value> = self
            .breakdown
            .iter()
            .map(|(model, b)| {
                let value = json!({"call_count": b.calls, "total_prompt_tokens": b.prompt_tokens,
                    "total_completion_tokens": b.completion_tokens, "total_cost_usd": round_cost(b.cost_usd)});
                (model.clone(), value)
            })
            .collect();
        json!({
            "program": program,
            "call_count": self.calls,
            "success_count": self.successes,
            "error_count": self.errors,
            "last_call_ts": self.last_call.as_ref().map(|(_, text)| text.clone()),
            "avg_latency_ms": avg,
            "p95_latency_ms": p95,
            "total_tokens": self.total_tokens,
            "total_prompt_tokens": self.prompt_tokens,
            "total_completion_tokens": self.completion_tokens,
            "total_cost_usd": self.cost_usd.map(round_cost),
            "lm_call_breakdown": breakdown,
        })
    }
}

/// Python's `datetime.fromisoformat` for our timestamps; a naive one is taken as UTC.
fn parse_timestamp(text: &str) -> Result<DateTime<FixedOffset>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(text).or_else(|_| {
        chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").map(|naive| naive.and_utc().fixed_offset())
    })
}

/// Token and cost totals of one program, for Prometheus.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct UsageTotals {
    pub(crate) prompt_tokens: u64,
    pub(crate) completion_tokens: u64,
    pub(crate) cost_usd: f64,
}

#[derive(Default)]
pub(crate) struct MetricsStore {
    programs: Mutex<HashMap<String, ProgramMetrics>>,
    /// Supervised workers share the log files: counts come from the files (every worker's
    /// lines), read on demand, instead of from this process's writes (see shared_logs.rs).
    from_files: AtomicBool,
    cursors: Mutex<HashMap<String, Cursor>>,
}

impl MetricsStore {
    /// Build the counts from the log files from now on (call before any line is written).
    pub(crate) fn follow_log_files(&self) {
        self.from_files.store(true, Ordering::Relaxed);
    }

    /// Are the counts built from the log files (supervised workers)?
    pub(crate) fn follows_log_files(&self) -> bool {
        self.from_files.load(Ordering::Relaxed)
    }

    /// A line this process has just written.
    pub(crate) fn record_written(&self, entry: &Map<String, Value>) {
        if !self.from_files.load(Ordering::Relaxed) {
            self.record(entry);
        }
    }

    /// When following the files: read what every writer appended since the last call.
    pub(crate) fn refresh<'a>(&self, logs_dir: &Path, programs: impl Iterator<Item = &'a str>) {
        if !self.from_files.load(Ordering::Relaxed) {
            return;
        }
        let mut cursors = self.cursors.lock().expect("metrics cursors lock");
        for program in programs {
            catch_up(self, &mut cursors, logs_dir, program);
        }
    }

    /// Count one log line (as written, or as read back from a log file).
    pub(crate) fn record(&self, entry: &Map<String, Value>) {
        let Some(program) = entry.get("program").and_then(Value::as_str) else {
            return;
        };
        let mut programs = self.programs.lock().expect("metrics lock");
        programs.entry(program.to_owned()).or_default().record(entry);
    }

    /// Read existing `<logs_dir>/<program>.log` files and their rotated backups (oldest first);
    /// unparsable lines are skipped as upstream does. Streams: memory does not grow with them.
    pub(crate) fn seed_from_logs(&self, logs_dir: &Path, programs: &[String]) {
        let follow = self.from_files.load(Ordering::Relaxed);
        for program in programs {
            let files = log_and_backups(&logs_dir.join(format!("{program}.log")));
            // Following: the live file is read through its cursor, so later reads go on from there.
            let skip = usize::from(follow);
            for path in files.iter().skip(skip).rev() {
                self.seed_from_file(path, program);
            }
        }
        self.refresh(logs_dir, programs.iter().map(String::as_str));
    }

    fn seed_from_file(&self, path: &Path, program: &str) {
        // Only regular files: a log path pointing at a device must not be read.
        if !path.metadata().is_ok_and(|m| m.is_file()) {
            return;
        }
        let Ok(file) = std::fs::File::open(path) else { return };
        // Byte lines: one invalid UTF-8 line must not end the seeding.
        for line in BufReader::new(file).split(b'\n').map_while(Result::ok) {
            if let Ok(Value::Object(mut entry)) = serde_json::from_slice::<Value>(&line) {
                // The file name decides the program, as in upstream's metrics.
                entry.insert("program".into(), Value::from(program));
                self.record(&entry);
            }
        }
    }

    /// Upstream's `ProgramMetrics.to_dict()` shape for `program` (zeros when it has no calls).
    pub(crate) fn program_json(&self, program: &str) -> Value {
        let programs = self.programs.lock().expect("metrics lock");
        match programs.get(program) {
            Some(metrics) => metrics.snapshot(program),
            None => ProgramMetrics::default().snapshot(program),
        }
    }

    pub(crate) fn usage(&self, program: &str) -> UsageTotals {
        let programs = self.programs.lock().expect("metrics lock");
        programs
            .get(program)
            .map_or_else(UsageTotals::default, |m| UsageTotals {
                prompt_tokens: m.prompt_tokens,
                completion_tokens: m.completion_tokens,
                cost_usd: m.cost_usd.unwrap_or(0.0),
            })
    }
}

/// Sort as upstream's `/api/metrics?sort_by=&order=` (stable; `desc` exactly means descending).
pub(crate) fn sort_programs(programs: &mut [Value], sort_by: &str, order: &str) {
    let number = |v: &Value, key: &str| v.get(key).and_then(Value::as_f64).unwrap_or(0.0);
    let key = |v: &Value| -> (f64, String) {
        match sort_by {
            "calls" => (number(v, "call_count"), String::new()),
            "latency" => (number(v, "avg_latency_ms"), String::new()),
            "cost" => (number(v, "total_cost_usd"), String::new()),
            "tokens" => (number(v, "total_tokens"), String::new()),
            // Our timestamps are all UTC ISO strings of the same shape: they sort as text.
            "last_call" => (0.0, v["last_call_ts"].as_str().unwrap_or("").to_owned()),
            _ => (0.0, v["program"].as_str().unwrap_or("").to_owned()),
        }
    };
    let descending = order == "desc";
    // sort_by is stable, and reversing the comparison keeps ties in order, like Python's
    // `sorted(..., reverse=True)`.
    programs.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        let ordering = ka.0.total_cmp(&kb.0).then_with(|| ka.1.cmp(&kb.1));
        if descending { ordering.reverse() } else { ordering }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(duration: f64, success: bool, ts: &str) -> Map<String, Value> {
        let value = json!({"timestamp": ts, "program": "P", "duration_ms": duration, "success": success,
            "tokens": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            "lm_calls": [{"model": "m", "prompt_tokens": 10, "completion_tokens": 5, "cost_usd": null}]});
        value.as_object().unwrap().clone()
    }

    #[test]
    fn computes_upstream_shape_with_zero_not_null_and_nearest_rank_p95() {
        let store = MetricsStore::default();
        store.record(&entry(10.0, true, "2026-01-01T00:00:01+00:00"));
        store.record(&entry(20.0, false, "2026-01-01T00:00:03.5+00:00"));
        let m = store.program_json("P");
        assert_eq!(m["call_count"], 2);
        assert_eq!(
            (m["success_count"].clone(), m["error_count"].clone()),
            (json!(1), json!(1))
        );
        assert_eq!(m["avg_latency_ms"], 15.0);
        assert_eq!(m["p95_latency_ms"], 20.0, "nearest rank of 2 values is the larger");
        assert_eq!(m["last_call_ts"], "2026-01-01T00:00:03.500000+00:00");
        assert_eq!(m["total_tokens"], 30);
        assert_eq!(m["total_cost_usd"], Value::Null);
        assert_eq!(m["lm_call_breakdown"]["m"]["call_count"], 2);
        assert_eq!(m["lm_call_breakdown"]["m"]["total_cost_usd"], 0.0);
        let empty = store.program_json("Q");
        assert_eq!(
            (empty["call_count"].clone(), empty["avg_latency_ms"].clone()),
            (json!(0), Value::Null)
        );
    }

    #[test]
    fn total_and_breakdown_costs_are_rounded_alike() {
        let store = MetricsStore::default();
        for cost in [0.000_012_3, 0.000_024_6] {
            let value = json!({"timestamp": "2026-01-01T00:00:01+00:00", "program": "P", "duration_ms": 1.0,
                "success": true, "cost_usd": cost, "lm_calls": [{"model": "m", "cost_usd": cost}]});
            store.record(value.as_object().unwrap());
        }
        let m = store.program_json("P");
        assert_eq!(m["total_cost_usd"], 0.000_036_9);
        assert_eq!(m["lm_call_breakdown"]["m"]["total_cost_usd"], m["total_cost_usd"]);
    }

    #[test]
    fn sorts_stably_with_upstream_keys() {
        // Neither input order is the answer for any key, so a no-op sort fails every case.
        let unsorted = || {
            vec![
                json!({"program": "c", "call_count": 1, "avg_latency_ms": 5.0, "last_call_ts": "2026-01-02"}),
                json!({"program": "a", "call_count": 3, "avg_latency_ms": null, "last_call_ts": "2026-01-03"}),
                json!({"program": "b", "call_count": 1, "avg_latency_ms": 2.0, "last_call_ts": "2026-01-01"}),
            ]
        };
        let sorted = |sort_by: &str, order: &str| {
            let mut programs = unsorted();
            sort_programs(&mut programs, sort_by, order);
            programs
                .iter()
                .map(|p| p["program"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        // Ties (c and b: one call each) keep their input order, descending too, like Python's
        // `sorted(..., reverse=True)`.
        assert_eq!(sorted("calls", "desc"), ["a", "c", "b"]);
        assert_eq!(sorted("calls", "asc"), ["c", "b", "a"]);
        // A missing latency counts as 0.
        assert_eq!(sorted("latency", "asc"), ["a", "b", "c"]);
        assert_eq!(sorted("last_call", "desc"), ["a", "c", "b"]);
        // Unknown keys sort by name; any order but exactly "desc" is ascending.
        assert_eq!(sorted("whatever", "asc"), ["a", "b", "c"]);
        assert_eq!(sorted("whatever", "DESC"), ["a", "b", "c"]);
        assert_eq!(sorted("program", "desc"), ["c", "b", "a"]);
    }
}
