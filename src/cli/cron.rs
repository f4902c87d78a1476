//! `dspy-cli cron list` and `dspy-cli cron run JOB`: a project's cron gateways without the
//! HTTP server, so a cluster scheduler can run them (with `serve --no-cron` on the replicas).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use pyo3::prelude::*;
use tokio::sync::watch;

use super::ExitStatus;
use super::args::{CronArgs, CronCommand, ServeArgs};
use super::serve::{Prepared, abort, load, prepare, share, start_mock_lm, stop_engine};
use crate::engine::{CronJobInfo, CronReport};
use crate::scheduler::{self, Schedule, Zone};
use crate::server::AppState;
use crate::server_runtime::{build_runtime, shutdown_signal};
use crate::telemetry::{InferenceLog, MetricsStore};

pub(super) fn cron(py: Python<'_>, args: &CronArgs, argv: &[String]) -> ExitStatus {
    let (options, job) = match &args.command {
        CronCommand::List(options) => (options, None),
        CronCommand::Run { job, options } => (options, Some(job.as_str())),
    };
    let serve_args = ServeArgs::for_cron(options);
    let Prepared {
        project: _,
        mut settings,
        serve,
    } = match prepare(py, &serve_args, "cron", argv, "Loading DSPy project...\n") {
        Ok(prepared) => prepared,
        Err(status) => return status,
    };
    let runtime = match build_runtime(None) {
        Ok(rt) => rt,
        Err(err) => return abort(&format!("Error: could not start the async runtime: {err}")),
    };
    if options.mock_lm
        && let Err(status) = start_mock_lm(&runtime, &mut settings.registry)
    {
        return status;
    }
    // No HTTP server: the deadline signal is only there because runs share its code path.
    let (_expired_tx, expired_rx) = watch::channel(false);
    let state = AppState::new(expired_rx, Arc::default());
    let metrics = Arc::new(MetricsStore::default());
    let (log, log_thread) = InferenceLog::start(settings.logs_dir.clone(), serve.data.rotation, metrics.clone());
    let (loaded, schedules) = match load(py, &settings, &log, &state, &runtime, serve.zone) {
        Ok(loaded) => loaded,
        Err(error) => {
            py.detach(|| drop(runtime));
            return abort(&error.to_string());
        }
    };
    let jobs = loaded.engine.cron_jobs.clone();
    let (engine, rest) = share(loaded, &state, &serve, metrics, &log, &settings);
    let status = match job {
        None => list(&jobs, &schedules, serve.zone),
        Some(wanted) => {
            let grace = serve.shutdown_timeout;
            let served = state.served().expect("shared above").clone();
            py.detach(|| runtime.block_on(run(&served, &jobs, wanted, grace)))
        }
    };
    drop(state);
    py.detach(|| stop_engine(engine, &log, runtime));
    rest.shutdown_gateways(py);
    drop(log_thread);
    status
}

fn list(jobs: &[CronJobInfo], schedules: &[Schedule], zone: Zone) -> ExitStatus {
    if jobs.is_empty() {
        println!("No cron gateways in this project.");
        return ExitStatus::Success;
    }
    println!("Cron gateways (times in {}):\n", zone.describe());
    for (job, schedule) in jobs.iter().zip(schedules) {
        let next = schedule
            .next_after(Utc::now())
            .map_or_else(|| "never".to_owned(), |t| zone.format(t));
        let mode = if job.use_batch { "  batch" } else { "" };
        println!("  {}  schedule={}  next={next}{mode}", job.name(), job.schedule);
    }
    println!();
    ExitStatus::Success
}

/// Indices of the jobs `wanted` names: `Program.Gateway`, or every job of `Program`.
fn select(jobs: &[CronJobInfo], wanted: &str) -> Vec<usize> {
    let exact: Vec<usize> = (0..jobs.len()).filter(|&i| jobs[i].name() == wanted).collect();
    if !exact.is_empty() {
        return exact;
    }
    (0..jobs.len()).filter(|&i| jobs[i].program == wanted).collect()
}

async fn run(served: &Arc<crate::server::Served>, jobs: &[CronJobInfo], wanted: &str, grace: Duration) -> ExitStatus {
    let selected = select(jobs, wanted);
    if selected.is_empty() {
        let available: Vec<String> = jobs.iter().map(CronJobInfo::name).collect();
        let available = if available.is_empty() {
            "none (no module has a CronGateway)".to_owned()
        } else {
            available.join(", ")
        };
        println!("Error: no cron gateway named '{wanted}'. Available: {available}");
        return ExitStatus::Failure;
    }
    let runs = async {
        let mut all_ok = true;
        for job in selected {
            let report = scheduler::run_once(served, job).await;
            print_report(&jobs[job], &report);
            all_ok &= report.succeeded();
        }
        all_ok
    };
    tokio::pin!(runs);
    let all_ok = tokio::select! {
        all_ok = &mut runs => all_ok,
        () = shutdown_signal() => {
            eprintln!("Signal received: letting the run finish for up to {}s", grace.as_secs_f64());
            tokio::time::timeout(grace, runs).await.unwrap_or(false)
        }
    };
    if all_ok {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    }
}

fn print_report(job: &CronJobInfo, report: &CronReport) {
    match &report.error {
        Some(error) => println!("{}: failed: {error}", job.name()),
        None => println!("{}: {} item(s) ok, {} failed", job.name(), report.ok, report.failed),
    }
}
