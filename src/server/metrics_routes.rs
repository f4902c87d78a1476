//! `/api/metrics`, `/api/metrics/{program}`, `/api/logs/{program}` (upstream's JSON shapes)
//! and `/metrics` (Prometheus). None of them rescans a log file.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::{ApiError, Ready};
use super::response::json;
use super::{AppState, Served};
use crate::telemetry::{EngineGauges, capped_limit, images_not_saved, log_and_backups, newest_entries, sort_programs};

/// Supervised workers: count the lines every worker appended to the log files since the last
/// read (one process counts its own writes: nothing to do). The backlog after a burst can be
/// large, so it is read on a blocking thread, not on the one serving requests.
async fn refresh_metrics(served: &Arc<Served>, program: Option<&str>) {
    if !served.metrics.follows_log_files() {
        return;
    }
    let served = served.clone();
    let program = program.map(str::to_owned);
    tokio::task::spawn_blocking(move || match program {
        Some(program) => served
            .metrics
            .refresh(&served.logs_dir, std::iter::once(program.as_str())),
        None => served.metrics.refresh(&served.logs_dir, served.program_names()),
    })
    .await
    .ok();
}

pub(crate) async fn all(Ready(served): Ready, Query(query): Query<HashMap<String, String>>) -> Response {
    refresh_metrics(&served, None).await;
    let mut programs: Vec<Value> = served.program_names().map(|p| served.metrics.program_json(p)).collect();
    let sort_by = query.get("sort_by").map_or("calls", String::as_str);
    let order = query.get("order").map_or("desc", String::as_str);
    sort_programs(&mut programs, sort_by, order);
    json(StatusCode::OK, &json!({"programs": programs}))
}

pub(crate) async fn one(Ready(served): Ready, Path(program): Path<String>) -> Result<Response, ApiError> {
    if !served.has_program(&program) {
        return Err(ApiError::ProgramNotFound(program));
    }
    refresh_metrics(&served, Some(&program)).await;
    Ok(json(
        StatusCode::OK,
        &json!({"metrics": served.metrics.program_json(&program)}),
    ))
}

/// FastAPI's error for a query parameter that is not an integer.
fn int_parsing_error(value: &str) -> Response {
    let error = json!({"type": "int_parsing", "loc": ["query", "limit"],
        "msg": "Input should be a valid integer, unable to parse string as an integer", "input": value});
    json(StatusCode::UNPROCESSABLE_ENTITY, &json!({"detail": [error]}))
}

pub(crate) async fn logs(
    Ready(served): Ready,
    Path(program): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    if !served.has_program(&program) {
        return Err(ApiError::ProgramNotFound(program));
    }
    let limit = match query.get("limit").map(|l| l.trim().parse::<i64>()) {
        None => 50,
        Some(Ok(n)) => capped_limit(n),
        Some(Err(_)) => return Ok(int_parsing_error(&query["limit"])),
    };
    let path = served.logs_dir.join(format!("{program}.log"));
    let entries = tokio::task::spawn_blocking(move || newest_entries(&log_and_backups(&path), limit))
        .await
        .unwrap_or_default();
    let count = entries.len();
    Ok(json(StatusCode::OK, &json!({"logs": entries, "count": count})))
}

pub(crate) async fn prometheus(State(state): State<AppState>, Ready(served): Ready) -> Response {
    refresh_metrics(&served, None).await;
    let text = served
        .http_metrics
        .render(&usage(&served), &engine_gauges(&state, &served));
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

fn usage(served: &Served) -> Vec<(String, crate::telemetry::UsageTotals)> {
    served
        .program_names()
        .map(|p| (p.to_owned(), served.metrics.usage(p)))
        .collect()
}

fn engine_gauges(state: &AppState, served: &Served) -> EngineGauges {
    let pool = served.engine.pool_stats();
    let connections = &state.connections;
    EngineGauges {
        pool_threads: pool.threads,
        pool_busy: pool.busy,
        pool_queue_depth: pool.queued,
        pool_max_threads: pool.max_threads,
        gil_wait_seconds: pool.gil_wait_seconds,
        pool_rider_jobs: pool.rider_jobs,
        pool_rider_fallbacks: pool.rider_fallbacks,
        loop_tasks: served.engine.loop_tasks(),
        log_lines_written: served.log.lines_written(),
        log_write_errors: served.log.write_errors(),
        log_images_not_saved: images_not_saved(),
        open_connections: connections.open.load(Ordering::Relaxed),
        connections_timed_out: connections.timed_out.load(Ordering::Relaxed),
        accept_fd_exhausted: connections.fd_exhausted.load(Ordering::Relaxed),
    }
}
