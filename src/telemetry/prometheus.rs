//! `GET /metrics`: request, latency, backpressure and engine metrics in the OpenMetrics text
//! format, encoded by the `prometheus-client` crate.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::metrics::UsageTotals;

type Labels = Vec<(&'static str, String)>;

fn program(name: &str) -> Labels {
    vec![("program", name.to_owned())]
}

/// Seconds; from a fast no-LM call to a slow chain of LM calls.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Values read from the engine when `/metrics` is scraped.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct EngineGauges {
    pub(crate) pool_threads: usize,
    pub(crate) pool_busy: usize,
    pub(crate) pool_queue_depth: usize,
    pub(crate) pool_max_threads: usize,
    pub(crate) gil_wait_seconds: f64,
    pub(crate) pool_rider_jobs: u64,
    pub(crate) pool_rider_fallbacks: u64,
    pub(crate) loop_tasks: u64,
    pub(crate) log_lines_written: u64,
    pub(crate) log_write_errors: u64,
    pub(crate) log_images_not_saved: u64,
    // Connection layer (server/connections.rs).
    pub(crate) open_connections: u64,
    pub(crate) connections_timed_out: u64,
    pub(crate) accept_fd_exhausted: u64,
}

pub(crate) struct HttpMetrics {
    registry: Registry,
    cron: CronMetrics,
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram>,
    in_flight: Family<Labels, Gauge>,
    queued: Family<Labels, Gauge>,
    rejected: Family<Labels, Counter>,
    tokens: Family<Labels, Gauge>,
    cost: Family<Labels, Gauge<f64, AtomicU64>>,
    engine: Vec<(GaugeReader, Gauge<f64, AtomicU64>)>,
}

/// Counters of the cron scheduler, labelled by job (`Program.Gateway`).
#[derive(Default)]
struct CronMetrics {
    runs: Family<Labels, Counter>,
    skipped_ticks: Family<Labels, Counter>,
    items: Family<Labels, Counter>,
}

impl CronMetrics {
    fn register(&self, registry: &mut Registry) {
        registry.register(
            "cron_runs",
            "Cron job runs by outcome (ok: every item succeeded)",
            self.runs.clone(),
        );
        registry.register(
            "cron_skipped_ticks",
            "Cron ticks skipped because the job's previous run was still going",
            self.skipped_ticks.clone(),
        );
        registry.register(
            "cron_items",
            "Items processed by cron jobs, by outcome",
            self.items.clone(),
        );
    }
}

/// Engine gauges: name and help text.
/// One engine gauge: its name, its help text, and how to read it from [`EngineGauges`]. Kept in
/// one row so a gauge can never be paired with another gauge's value.
struct EngineGauge {
    name: &'static str,
    help: &'static str,
    read: GaugeReader,
}

type GaugeReader = fn(&EngineGauges) -> f64;

#[expect(clippy::cast_precision_loss, reason = "gauge values far below 2^52")]
const ENGINE_GAUGES: [EngineGauge; 14] = [
    EngineGauge {
        name: "sync_pool_threads",
        help: "Threads in the sync (forward) pool",
        read: |e| e.pool_threads as f64,
    },
    EngineGauge {
        name: "sync_pool_busy_threads",
        help: "Sync pool threads running a job",
        read: |e| e.pool_busy as f64,
    },
    EngineGauge {
        name: "sync_pool_queue_depth",
        help: "Sync jobs waiting for a thread",
        read: |e| e.pool_queue_depth as f64,
    },
    EngineGauge {
        name: "sync_pool_max_threads",
        help: "Maximum size of the sync pool",
        read: |e| e.pool_max_threads as f64,
    },
    EngineGauge {
        name: "gil_wait_seconds",
        help: "Total time sync jobs waited for the GIL after being picked up",
        read: |e| e.gil_wait_seconds,
    },
    EngineGauge {
        name: "sync_pool_rider_jobs",
        help: "Jobs of quick sync programs left for the thread already running one, instead of waking another",
        read: |e| e.pool_rider_jobs as f64,
    },
    EngineGauge {
        name: "sync_pool_rider_fallbacks",
        help: "Times such jobs got another thread because the running ones finished nothing for 2 ms",
        read: |e| e.pool_rider_fallbacks as f64,
    },
    EngineGauge {
        name: "asyncio_tasks",
        help: "aforward requests in flight on the asyncio loop",
        read: |e| e.loop_tasks as f64,
    },
    EngineGauge {
        name: "log_lines_written",
        help: "Inference log lines written since start",
        read: |e| e.log_lines_written as f64,
    },
    EngineGauge {
        name: "log_write_errors",
        help: "Inference log lines that could not be written since start",
        read: |e| e.log_write_errors as f64,
    },
    EngineGauge {
        name: "log_images_not_saved",
        help: "Images not saved under logs/img since start (over server.log_image_max_bytes or server.log_images_max_total_bytes)",
        read: |e| e.log_images_not_saved as f64,
    },
    // Connection layer.
    EngineGauge {
        name: "open_connections",
        help: "Client connections open now",
        read: |e| e.open_connections as f64,
    },
    EngineGauge {
        name: "connections_timed_out",
        help: "Connections closed by the header, keep-alive or write timeout since start",
        read: |e| e.connections_timed_out as f64,
    },
    EngineGauge {
        name: "accept_fd_exhausted",
        help: "Times accept() found no free file descriptor (new connections waited)",
        read: |e| e.accept_fd_exhausted as f64,
    },
];

impl Default for HttpMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("dspy");
        let requests = Family::<Labels, Counter>::default();
        let latency = Family::<Labels, Histogram>::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS));
        let in_flight = Family::<Labels, Gauge>::default();
        let queued = Family::<Labels, Gauge>::default();
        let rejected = Family::<Labels, Counter>::default();
        let tokens = Family::<Labels, Gauge>::default();
        let cost = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "requests",
            "Program requests answered, by HTTP status",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Program request latency, including queueing",
            latency.clone(),
        );
        registry.register(
            "in_flight_requests",
            "Program requests being executed",
            in_flight.clone(),
        );
        registry.register(
            "queued_requests",
            "Program requests waiting for a concurrency slot",
            queued.clone(),
        );
        registry.register(
            "rejected_requests",
            "Program requests rejected with 429 (queue full, or the queue timeout passed)",
            rejected.clone(),
        );
        registry.register(
            "program_tokens",
            "LM tokens used by a program, from its inference log",
            tokens.clone(),
        );
        registry.register(
            "program_cost_usd",
            "LM cost of a program in USD, from its inference log",
            cost.clone(),
        );
        let engine = ENGINE_GAUGES
            .iter()
            .map(|row| {
                let gauge = Gauge::<f64, AtomicU64>::default();
                registry.register(row.name, row.help, gauge.clone());
                (row.read, gauge)
            })
            .collect();
        let cron = CronMetrics::default();
        cron.register(&mut registry);
        Self {
            registry,
            cron,
            requests,
            latency,
            in_flight,
            queued,
            rejected,
            tokens,
            cost,
            engine,
        }
    }
}

impl HttpMetrics {
    pub(crate) fn observe_response(&self, name: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&vec![("program", name.to_owned()), ("status", status.to_string())])
            .inc();
        self.latency.get_or_create(&program(name)).observe(seconds);
    }

    pub(crate) fn in_flight(&self, name: &str, delta: i64) {
        self.in_flight.get_or_create(&program(name)).inc_by(delta);
    }

    pub(crate) fn queued(&self, name: &str, delta: i64) {
        self.queued.get_or_create(&program(name)).inc_by(delta);
    }

    pub(crate) fn rejected(&self, name: &str) {
        self.rejected.get_or_create(&program(name)).inc();
    }

    /// One finished cron run of `job` with its item counts.
    pub(crate) fn cron_run(&self, job: &str, ok: u64, failed: u64, completed: bool) {
        let labels = |outcome: &str| vec![("job", job.to_owned()), ("outcome", outcome.to_owned())];
        let outcome = if completed && failed == 0 { "ok" } else { "failed" };
        self.cron.runs.get_or_create(&labels(outcome)).inc();
        self.cron.items.get_or_create(&labels("ok")).inc_by(ok);
        self.cron.items.get_or_create(&labels("failed")).inc_by(failed);
    }

    pub(crate) fn cron_skipped_tick(&self, job: &str) {
        self.cron
            .skipped_ticks
            .get_or_create(&vec![("job", job.to_owned())])
            .inc();
    }

    /// Encode everything, after refreshing the values read at scrape time.
    pub(crate) fn render(&self, usage: &[(String, UsageTotals)], engine: &EngineGauges) -> String {
        for (name, totals) in usage {
            let labels = |kind: &str| vec![("program", name.clone()), ("kind", kind.to_owned())];
            self.tokens
                .get_or_create(&labels("prompt"))
                .set(i64::try_from(totals.prompt_tokens).unwrap_or(i64::MAX));
            self.tokens
                .get_or_create(&labels("completion"))
                .set(i64::try_from(totals.completion_tokens).unwrap_or(i64::MAX));
            self.cost.get_or_create(&program(name)).set(totals.cost_usd);
        }
        for (read, gauge) in &self.engine {
            gauge.set(read(engine));
        }
        let mut text = String::new();
        encode(&mut text, &self.registry).ok();
        text
    }
}
