//! The gateways' FastAPI app (routes registered through an overridden `configure_route`), and
//! the [`ProgramRunner`] through which its endpoints and cron jobs run programs.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;

use super::programs::{shutting_down, too_many_requests};
use super::response::detail;
use super::state::{GATEWAY_APP, WeakAppState};
use super::{AppState, MAX_BODY_BYTES, Served};
use crate::engine::{AsgiRequest, AsgiResponse, BodyKind, ProgramRunner, RunResult};
use crate::telemetry::Origin;

/// Serve `request` with the gateways' FastAPI app (called as ASGI on the loop thread). The app
/// has its own `server.max_concurrent_per_program` slots, held until its response is complete.
pub(crate) async fn forward(state: &AppState, served: &Served, request: Request) -> Response {
    let slot = tokio::select! {
        slot = served.slots.acquire(GATEWAY_APP) => slot,
        () = state.shutdown_expired() => return shutting_down(),
    };
    let Some(_slot) = slot else {
        served.http_metrics.rejected(GATEWAY_APP);
        return too_many_requests(GATEWAY_APP, served.slots.limits().retry_after_seconds());
    };
    let client = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return detail(413, "Request body too large");
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
    };
    let response = tokio::select! {
        response = served.engine.serve_app(request) => response,
        () = state.shutdown_expired() => return shutting_down(),
    };
    match response {
        Ok(response) => into_response(response),
        Err(_) => detail(503, "The server is shutting down; the request was not completed."),
    }
}

fn into_response(app: AsgiResponse) -> Response {
    let mut response = Response::new(Body::from(app.body));
    *response.status_mut() = StatusCode::from_u16(app.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
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
            let Some(state) = state else {
                return (503, Bytes::from_static(br#"{"detail":"The server is shutting down"}"#));
            };
            let Some(served) = state.served().cloned() else {
                return (
                    503,
                    Bytes::from(serde_json::json!({"detail": super::programs::LOADING}).to_string()),
                );
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
