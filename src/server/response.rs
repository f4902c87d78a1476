//! JSON responses and the access log.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::request_id::{REQUEST_ID, RequestId};

/// A response whose body is already JSON text.
pub(crate) fn json_bytes(status: StatusCode, body: impl Into<Body>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.into()).into_response()
}

pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    json_bytes(status, value.to_string())
}

pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// One line per request, like uvicorn's access log, ending with the request id; the id is
/// also given to the handler (a request extension) and sent back as `X-Request-ID`.
pub(crate) async fn access_log(mut request: Request, next: Next) -> Response {
    let client = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let id = RequestId::from_headers(request.headers());
    request.extensions_mut().insert(id.clone());
    // The query may carry credentials (`?api_key=`): redacted like every log line.
    let line = format!(
        "{} {}",
        request.method(),
        request.uri().path_and_query().map_or("/", |p| p.as_str())
    );
    let mut response = next.run(request).await;
    response.headers_mut().insert(REQUEST_ID.clone(), id.header_value());
    let status = response.status();
    let client = client.map_or_else(|| "-".to_owned(), |c| c.to_string());
    tracing::info!(target: "dspy_cli.access", "{client} - \"{line} HTTP/1.1\" {} {} request_id={}", status.as_u16(), status.canonical_reason().unwrap_or(""), id.0);
    response
}
