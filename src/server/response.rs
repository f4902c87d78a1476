//! JSON responses and the access log.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// A response whose body is already JSON text.
pub(crate) fn json_bytes(status: u16, body: impl Into<Body>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, "application/json")], body.into()).into_response()
}

pub(crate) fn json(status: u16, value: &serde_json::Value) -> Response {
    json_bytes(status, value.to_string())
}

pub(crate) fn detail(status: u16, message: &str) -> Response {
    json(status, &serde_json::json!({ "detail": message }))
}

pub(crate) async fn method_not_allowed() -> Response {
    detail(405, "Method Not Allowed")
}

/// One line per request, like uvicorn's access log.
pub(crate) async fn access_log(request: Request, next: Next) -> Response {
    let client = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let line = format!(
        "{} {}",
        request.method(),
        request.uri().path_and_query().map_or("/", |p| p.as_str())
    );
    let response = next.run(request).await;
    let status = response.status();
    let client = client.map_or_else(|| "-".to_owned(), |c| c.to_string());
    tracing::info!(target: "dspy_cli.access", "{client} - \"{line} HTTP/1.1\" {} {}", status.as_u16(), status.canonical_reason().unwrap_or(""));
    response
}
