//! The cron scheduler: runs each cron gateway of the project on its schedule.
//!
//! One tokio task per job sleeps until the next tick and asks the engine for a run (on the
//! asyncio loop). A job never overlaps itself: a tick that comes while the previous run is still
//! going is skipped and counted (`dspy_cron_skipped_ticks_total`). On shutdown the tasks stop
//! ticking and give a run in flight the shutdown deadline.

mod schedule;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

pub(crate) use schedule::{Schedule, ScheduleError, Zone};

use crate::engine::{CronJobInfo, CronReport};
use crate::server::Served;

const TARGET: &str = "dspy_cli.server.scheduler";

/// A cron gateway whose schedule cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("Cron gateway {job}: {error}")]
pub(crate) struct JobScheduleError {
    job: String,
    error: ScheduleError,
}

/// Parse every job's schedule; the first invalid one is an error naming the job.
pub(crate) fn parse_schedules(jobs: &[CronJobInfo], zone: Zone) -> Result<Vec<Schedule>, JobScheduleError> {
    jobs.iter()
        .map(|job| Schedule::parse(&job.schedule, zone).map_err(|error| JobScheduleError { job: job.name(), error }))
        .collect()
}

/// Upstream's start-up line for one job.
pub(crate) fn registered_line(job: &CronJobInfo) -> String {
    let mut line = format!("Registered cron gateway: {} schedule={}", job.program, job.schedule);
    if job.use_batch {
        line.push_str(" batch=True");
        if let Some(threads) = job.num_threads {
            line.push_str(" threads=");
            line.push_str(&threads.to_string());
        }
    }
    line
}

/// Log and count a finished run.
pub(crate) fn finish_run(served: &Served, name: &str, report: &CronReport) {
    served
        .http_metrics
        .cron_run(name, report.ok, report.failed, report.error.is_none());
    match &report.error {
        Some(error) => tracing::error!(target: TARGET, "Cron job {name} failed: {error}"),
        None if report.failed > 0 => tracing::warn!(
            target: TARGET,
            "Cron job {name} finished: {} item(s) ok, {} failed",
            report.ok,
            report.failed
        ),
        None => tracing::info!(target: TARGET, "Cron job {name} finished: {} item(s) ok", report.ok),
    }
}

/// Run job `job` once now and wait for the end (used by `dspy-cli cron run`).
pub(crate) async fn run_once(served: &Served, job: usize) -> CronReport {
    let name = served.engine.cron_jobs[job].name();
    let report = served
        .engine
        .start_cron_run(job)
        .await
        .unwrap_or_else(|_| CronReport::failure("the run ended without a report"));
    finish_run(served, &name, &report);
    report
}

pub(crate) struct Scheduler {
    tasks: Vec<JoinHandle<()>>,
}

impl Scheduler {
    /// Start one ticking task per job (`schedules[i]` belongs to job `i`). They stop ticking
    /// when `stop` turns true; a run still going then gets up to `grace`.
    pub(crate) fn start(
        served: &Arc<Served>,
        schedules: Vec<Schedule>,
        stop: &watch::Receiver<bool>,
        grace: Duration,
    ) -> Self {
        let tasks = schedules
            .into_iter()
            .enumerate()
            .map(|(job, schedule)| {
                let ticker = Ticker {
                    served: served.clone(),
                    job,
                    schedule,
                    grace,
                };
                tokio::spawn(ticker.run(stop.clone()))
            })
            .collect();
        Self { tasks }
    }

    /// Wait until every task has stopped (after the stop signal).
    pub(crate) async fn stop(self) {
        for task in self.tasks {
            task.await.ok();
        }
    }
}

struct Ticker {
    served: Arc<Served>,
    job: usize,
    schedule: Schedule,
    grace: Duration,
}

impl Ticker {
    async fn run(self, mut stop: watch::Receiver<bool>) {
        let name = self.served.engine.cron_jobs[self.job].name();
        let mut running: Option<oneshot::Receiver<CronReport>> = None;
        let mut next = self.schedule.next_after(Utc::now());
        while let Some(due) = next {
            let wait = (due - Utc::now()).to_std().unwrap_or_default();
            tokio::select! {
                () = tokio::time::sleep(wait) => {
                    // From now, not from `due`: a late wake-up must not fire a burst of ticks.
                    next = self.schedule.next_after(Utc::now().max(due));
                    if running.is_some() {
                        self.served.http_metrics.cron_skipped_tick(&name);
                        tracing::warn!(target: TARGET, "Cron job {name}: previous run still going; tick skipped");
                    } else {
                        running = Some(self.served.engine.start_cron_run(self.job));
                    }
                }
                report = wait_for_run(&mut running) => {
                    running = None;
                    finish_run(&self.served, &name, &report);
                }
                _ = stop.wait_for(|stopping| *stopping) => break,
            }
        }
        if next.is_none() {
            tracing::warn!(target: TARGET, "Cron job {name}: its schedule has no future time; not scheduled any more");
        }
        if running.is_some() {
            match tokio::time::timeout(self.grace, wait_for_run(&mut running)).await {
                Ok(report) => finish_run(&self.served, &name, &report),
                Err(_) => {
                    tracing::warn!(target: TARGET, "Cron job {name}: run still going at the shutdown deadline; cancelling it");
                }
            }
        }
    }
}

/// The report of the run in `running`; pending forever when there is none.
async fn wait_for_run(running: &mut Option<oneshot::Receiver<CronReport>>) -> CronReport {
    match running {
        Some(rx) => rx
            .await
            .unwrap_or_else(|_| CronReport::failure("the run ended without a report")),
        None => std::future::pending().await,
    }
}
