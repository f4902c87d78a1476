//! Program routes (`POST /<Program>` and gateway paths), `/programs` and `/openapi.json`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::OwnedSemaphorePermit;

use super::backpressure::NoSlot;
use super::body::read_limited;
use super::connections::out_of_descriptors;
use super::error::{ApiError, Ready, status_code};
use super::request_id::RequestId;
use super::response::{json, json_bytes};
use super::state::RouteMatch;
use super::{AppState, Served};
use crate::engine::BodyKind;
use crate::telemetry::{HttpMetrics, LogRecord, Origin, PendingLog, redact};

pub(crate) async fn list(Ready(served): Ready) -> Response {
    json(StatusCode::OK, &json!({"programs": served.catalog.programs}))
}

pub(crate) async fn openapi(Ready(served): Ready) -> Response {
    json_bytes(StatusCode::OK, served.openapi.clone())
}

/// FastAPI's rule: JSON when there is no content type or an `application/json`/`+json` one.
fn body_kind(headers: &HeaderMap, body: &[u8]) -> BodyKind {
    if body.is_empty() {
        return BodyKind::Empty;
    }
    let Some(content_type) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return BodyKind::Json;
    };
    let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match mime.split_once('/') {
        Some(("application", sub)) if sub == "json" || sub.ends_with("+json") => BodyKind::Json,
        _ => BodyKind::Other,
    }
}

/// Everything that is not a built-in route: program routes, the gateways' FastAPI app, then
/// 307/404/405 as FastAPI does.
pub(crate) async fn dispatch(
    State(state): State<AppState>,
    Ready(served): Ready,
    request: axum::extract::Request,
) -> Response {
    let served = &served;
    let found = served.find(request.method(), request.uri().path());
    if !matches!(found, RouteMatch::Found(_)) && served.is_app_path(request.uri().path()) {
        return super::gateway_app::forward(&state, served, request).await;
    }
    let request_id = request.extensions().get::<RequestId>().map(|id| id.0.clone());
    let (parts, body) = request.into_parts();
    // Size and arrival time are checked before the request takes a place in a queue.
    let body = match read_limited(&parts.headers, body, served.slots.limits()).await {
        Ok(body) => body,
        Err(refused) => return refused.into_response(),
    };
    let (method, uri, headers) = (parts.method, parts.uri, parts.headers);
    let path = uri.path();
    match found {
        RouteMatch::Found(index) => {
            let kind = body_kind(&headers, &body);
            let request_id = request_id.unwrap_or_else(|| RequestId::from_headers(&headers).0);
            run_program(&state, served, index, kind, body, Origin::Http, Some(request_id)).await
        }
        RouteMatch::WrongMethod => ApiError::MethodNotAllowed.into_response(),
        RouteMatch::NotFound => {
            let trimmed = path.trim_end_matches('/');
            if path.len() > 1 && !trimmed.is_empty() && !matches!(served.find(&method, trimmed), RouteMatch::NotFound) {
                let location = uri
                    .query()
                    .map_or_else(|| trimmed.to_owned(), |q| format!("{trimmed}?{q}"));
                return (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, location)]).into_response();
            }
            ApiError::NotFound.into_response()
        }
    }
}

/// Keeps a gauge raised for as long as it lives, even if the request future is dropped.
struct GaugeGuard<'a> {
    served: &'a Served,
    program: &'a str,
    gauge: fn(&crate::telemetry::HttpMetrics, &str, i64),
}

impl<'a> GaugeGuard<'a> {
    fn raise(served: &'a Served, program: &'a str, gauge: fn(&crate::telemetry::HttpMetrics, &str, i64)) -> Self {
        gauge(&served.http_metrics, program, 1);
        Self { served, program, gauge }
    }
}

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        (self.gauge)(&self.served.http_metrics, self.program, -1);
    }
}

/// One run of engine route `index`: wait for a slot, run, log, count. HTTP requests, gateway
/// endpoints and cron items all come through here; only HTTP requests have a request id.
pub(crate) async fn run_program(
    state: &AppState,
    served: &Served,
    index: usize,
    kind: BodyKind,
    body: Bytes,
    origin: Origin,
    request_id: Option<Arc<str>>,
) -> Response {
    let started = Instant::now();
    let program = &*served.engine.routes[index].program;
    let queued = GaugeGuard::raise(served, program, HttpMetrics::queued);
    let permit = tokio::select! {
        permit = served.slots.acquire(program) => permit,
        () = state.shutdown_expired() => return ApiError::ShuttingDown.into_response(),
    };
    drop(queued);
    let response = match permit {
        Err(NoSlot::QueueFull | NoSlot::TimedOut) => {
            served.http_metrics.rejected(program);
            ApiError::TooManyRequests {
                program: program.to_owned(),
                retry_after: served.slots.limits().retry_after_seconds(),
            }
            .into_response()
        }
        Ok(permit) => {
            let _in_flight = GaugeGuard::raise(served, program, HttpMetrics::in_flight);
            execute(state, served, index, (kind, body, origin, request_id), permit).await
        }
    };
    served
        .http_metrics
        .observe_response(program, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

/// Why a handler stopped waiting for its program.
#[derive(Clone, Copy)]
enum GaveUp {
    Timeout(Duration),
    Shutdown,
}

async fn execute(
    state: &AppState,
    served: &Served,
    index: usize,
    (kind, body, origin, request_id): (BodyKind, Bytes, Origin, Option<Arc<str>>),
    slot: OwnedSemaphorePermit,
) -> Response {
    let submitted = Instant::now();
    // The slot travels with the job: Python releases it, not this handler.
    let (mut ticket, mut cancel_guard) =
        served
            .engine
            .submit(index, body.clone(), kind, origin, slot, request_id.clone());
    // If this future is dropped or gives up below, the guard cancels an aforward task.
    let request_timeout = served.slots.limits().request_timeout;
    let waited = tokio::select! {
        reply = ticket.reply() => Ok(reply),
        () = sleep_or_forever(request_timeout) => Err(GaveUp::Timeout(request_timeout.unwrap_or_default())),
        () = state.shutdown_expired() => Err(GaveUp::Shutdown),
    };
    let gave_up = |reason| give_up(served, index, (&body, origin, request_id.clone()), submitted, reason);
    let reply = match waited {
        Ok(Ok(reply)) => reply,
        // The engine dropped the job unanswered: it is stopping.
        Ok(Err(_)) => return gave_up(GaveUp::Shutdown),
        Err(reason) => match ticket.abandon() {
            // It finished while we were deciding: answer normally.
            Some(reply) => reply,
            None => return gave_up(reason),
        },
    };
    cancel_guard.disarm();
    // Durability: respond only once the inference log line reached the kernel.
    if let Some(Err(err)) = reply.log.map(PendingLog::commit)
        && out_of_descriptors(&err)
    {
        // Transient: refuse to acknowledge a request whose line is lost; the client retries.
        // (Other write errors, such as a full disk, keep requests answered.)
        return ApiError::OutOfDescriptors.into_response();
    }
    if reply.status >= 500 {
        return server_error(served, index, reply.status, &reply.body, request_id.as_deref());
    }
    json_bytes(status_code(reply.status), reply.body)
}

/// A 5xx from the program: its detail redacted (LM errors quote `api_base`), or with
/// `server.expose_errors: false` a generic message naming the request id, the detail going
/// to the server's log only.
fn server_error(served: &Served, index: usize, status: u16, body: &[u8], request_id: Option<&str>) -> Response {
    let body = redact(&String::from_utf8_lossy(body)).into_owned();
    if served.expose_errors {
        return json_bytes(status_code(status), body);
    }
    let program = &served.engine.routes[index].program;
    let id = request_id.unwrap_or("-");
    tracing::error!("request {id} to {program} failed with {status}: {body}");
    ApiError::Internal {
        status,
        request_id: id.to_owned(),
    }
    .into_response()
}

/// Answer a request whose program did not finish (504 on timeout, 503 at the shutdown
/// deadline), after logging it as the failure it is. The job's own line, if it ever finishes,
/// is dropped (`Ticket::abandon`).
fn give_up(
    served: &Served,
    index: usize,
    (body, origin, request_id): (&Bytes, Origin, Option<Arc<str>>),
    submitted: Instant,
    reason: GaveUp,
) -> Response {
    let route = &served.engine.routes[index];
    let (response, error) = match reason {
        GaveUp::Timeout(limit) => {
            let error = ApiError::Timeout {
                program: route.program.to_string(),
                seconds: limit.as_secs_f64(),
            };
            let logged = format!("Timeout: {}", error.message());
            (error.into_response(), logged)
        }
        GaveUp::Shutdown => (
            ApiError::ShuttingDown.into_response(),
            "Cut off by shutdown: the server stopped before the program finished (--shutdown-timeout).".to_owned(),
        ),
    };
    let record = LogRecord {
        program: route.program.clone(),
        model: route.model.clone(),
        duration: submitted.elapsed(),
        inputs_json: body.to_vec(),
        outputs_json: b"{}".to_vec(),
        error: Some(error),
        usage_json: None,
        request_id,
        origin,
    };
    // A line that cannot be written is reported and counted by the log; the answer stands.
    served.log.pending(record).commit().ok();
    response
}

async fn sleep_or_forever(duration: Option<Duration>) {
    match duration {
        Some(duration) => tokio::time::sleep(duration).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(content_type: Option<&str>, body: &[u8]) -> BodyKind {
        let mut headers = HeaderMap::new();
        if let Some(ct) = content_type {
            headers.insert(header::CONTENT_TYPE, ct.parse().unwrap());
        }
        body_kind(&headers, body)
    }

    #[test]
    fn body_kind_follows_fastapi() {
        assert_eq!(kind(None, b"{}"), BodyKind::Json);
        assert_eq!(kind(Some("application/json; charset=utf-8"), b"{}"), BodyKind::Json);
        assert_eq!(kind(Some("application/vnd.api+json"), b"{}"), BodyKind::Json);
        assert_eq!(kind(Some("text/plain"), b"{}"), BodyKind::Other);
        assert_eq!(kind(Some("application/json"), b""), BodyKind::Empty);
    }
}
