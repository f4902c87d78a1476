//! The gateways' FastAPI app (routes registered through an overridden `configure_route`), and
//! the [`ProgramRunner`] through which its endpoints and cron jobs run programs.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::body::read_limited;
use super::error::{ApiError, status_code};
use super::state::{GATEWAY_APP, WeakAppState};
use super::{AppState, Served};
use crate::engine::{AsgiRequest, AsgiResponse, BodyKind, ProgramRunner, RunResult};
use crate::telemetry::Origin;

/// Serve `request` with the gateways' FastAPI app (called as ASGI on the loop thread). The app
/// has its own `server.max_concurrent_per_program` slots, held until its response is complete.
pub(crate) async fn forward(state: &AppState, served: &Served, request: Request) -> Response {
    let client = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let (parts, body) = request.into_parts();
    // The body is read (bounded in size and time) before a slot is taken.
    let body = match read_limited(&parts.headers, body, served.slots.limits()).await {
        Ok(body) => body,
        Err(refused) => return refused.into_response(),
    };
    let slot = tokio::select! {
        slot = served.slots.acquire(GATEWAY_APP) => slot,
        () = state.shutdown_expired() => return ApiError::ShuttingDown.into_response(),
    };
    let Ok(_slot) = slot else {
        served.http_metrics.rejected(GATEWAY_APP);
        return ApiError::TooManyRequests {
            program: GATEWAY_APP.to_owned(),
            retry_after: served.slots.limits().retry_after_seconds(),
        }
        .into_response();
    };
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| (name.as_str().as_bytes().to_vec(), value.as_bytes().to_vec()))
        .collect();
    let request = AsgiRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers,
        body,
        client,
        server: None,
        timeout: served.slots.limits().request_timeout,
    };
    // Dropped early (client gone, shutdown deadline), the guard cancels the app's task, which
    // then no longer runs without its slot.
    let (response, mut cancel_guard) = served.engine.serve_app(request);
    let response = tokio::select! {
        response = response => response,
        () = state.shutdown_expired() => return ApiError::ShuttingDown.into_response(),
    };
    cancel_guard.disarm();
    match response {
        Ok(response) => into_response(response),
        // The engine dropped the request unanswered: it is stopping.
        Err(_) => ApiError::ShuttingDown.into_response(),
    }
}

fn into_response(app: AsgiResponse) -> Response {
    let mut response = Response::new(Body::from(app.body));
    *response.status_mut() = status_code(app.status);
    let headers = response.headers_mut();
    for (name, value) in app.headers {
        // content-length is recomputed from the body by hyper.
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(&name), HeaderValue::from_bytes(&value))
            && name != axum::http::header::CONTENT_LENGTH
        {
            headers.append(name, value);
        }
    }
    response
}

impl ProgramRunner for WeakAppState {
    fn run(&self, route: usize, body: Bytes, origin: Origin) -> Pin<Box<dyn Future<Output = RunResult> + Send>> {
        let state = self.upgrade();
        Box::pin(async move {
            let refused = |error: ApiError| (error.status().as_u16(), error.body());
            let Some(state) = state else {
                return refused(ApiError::ShuttingDown);
            };
            let Some(served) = state.served().cloned() else {
                return refused(ApiError::NotReady);
            };
            let response =
                super::programs::run_program(&state, &served, route, BodyKind::Json, body, origin, None).await;
            let status = response.status().as_u16();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap_or_default();
            (status, body)
        })
    }
}
