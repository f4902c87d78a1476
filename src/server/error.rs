//! Every error the HTTP layer answers, one variant per condition and one text per variant.
//!
//! Users and clients rely on the shapes: `{"detail": "<text>"}` with the status below (FastAPI's
//! convention), plus a header where the condition has one (`Retry-After`, `WWW-Authenticate`,
//! `Connection: close`). Handlers return `ApiError` (or `Result<_, ApiError>`), never a
//! hand-built error body.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::response::json_bytes;
use super::state::{AppState, Served};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ApiError {
    /// 503 until every module is imported and every LM built.
    NotReady,
    /// 503: the server stopped (or its shutdown deadline passed) before the request finished.
    ShuttingDown,
    /// 503: the inference log line could not be written for lack of descriptors.
    OutOfDescriptors,
    /// 404 for a path no route serves (FastAPI's text).
    NotFound,
    /// 404 for a program name the project does not have (upstream's text).
    ProgramNotFound(String),
    /// 405 (FastAPI's text).
    MethodNotAllowed,
    /// 429: the program's slots and queue are full.
    TooManyRequests { program: String, retry_after: u64 },
    /// 413, before the body is read: `Connection: close`.
    BodyTooLarge { limit: usize },
    /// 408: the body did not arrive within `server.body_read_timeout_seconds`.
    BodyTimeout { seconds: f64 },
    /// 400: the client broke the body off (FastAPI's text).
    BodyUnreadable,
    /// 504: the program did not finish within `server.request_timeout_seconds`.
    Timeout { program: String, seconds: f64 },
    /// A program's 5xx under `server.expose_errors: false`: only the request id is shown.
    Internal { status: u16, request_id: String },
    /// 401 with `WWW-Authenticate: Bearer`; the text says which credential was wrong.
    Unauthorized(&'static str),
    /// 429 from `POST /login` after too many failures from one address.
    LoginRateLimited { wait_seconds: u64 },
    /// 413 from `POST /login`.
    LoginFormTooLarge { limit: usize },
}

impl ApiError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::NotReady | Self::ShuttingDown | Self::OutOfDescriptors => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotFound | Self::ProgramNotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooManyRequests { .. } | Self::LoginRateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::BodyTooLarge { .. } | Self::LoginFormTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::BodyUnreadable => StatusCode::BAD_REQUEST,
            Self::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::Internal { status, .. } => status_code(*status),
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        }
    }

    /// The `detail` text.
    pub(crate) fn message(&self) -> String {
        match self {
            Self::NotReady => {
                "The server is still loading programs. Retry when GET /health/ready answers 200.".to_owned()
            }
            Self::ShuttingDown => "The server is shutting down; the request was not completed.".to_owned(),
            Self::OutOfDescriptors => "The server is out of file descriptors and could not log this request, so it is not acknowledged. Retry later.".to_owned(),
            Self::NotFound => "Not Found".to_owned(),
            Self::ProgramNotFound(program) => format!("Program '{program}' not found"),
            Self::MethodNotAllowed => "Method Not Allowed".to_owned(),
            Self::TooManyRequests { program, .. } => {
                format!("Too many concurrent requests for '{program}'. Try again later.")
            }
            Self::BodyTooLarge { limit } => {
                format!("Request body too large: the limit is {limit} bytes (server.max_body_bytes).")
            }
            Self::BodyTimeout { seconds } => format!(
                "The request body did not arrive within {seconds} seconds (server.body_read_timeout_seconds)."
            ),
            Self::BodyUnreadable => "There was an error parsing the body".to_owned(),
            Self::Timeout { program, seconds } => format!(
                "Program '{program}' did not finish within {seconds} seconds (server.request_timeout_seconds)."
            ),
            Self::Internal { request_id, .. } => {
                format!("Internal server error (request id {request_id}). The details are in the server's log.")
            }
            Self::Unauthorized(message) => (*message).to_owned(),
            Self::LoginRateLimited { wait_seconds } => {
                format!("Too many failed logins from this address. Try again in {wait_seconds} seconds.")
            }
            Self::LoginFormTooLarge { limit } => format!("The login form is larger than {limit} bytes."),
        }
    }

    /// The JSON body, for callers that need bytes rather than a response (cron, gateways).
    pub(crate) fn body(&self) -> Bytes {
        Bytes::from(serde_json::json!({ "detail": self.message() }).to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = json_bytes(self.status(), self.body());
        let headers = response.headers_mut();
        match &self {
            Self::TooManyRequests { retry_after, .. } => {
                headers.insert(header::RETRY_AFTER, (*retry_after).into());
            }
            Self::LoginRateLimited { wait_seconds } => {
                headers.insert(header::RETRY_AFTER, (*wait_seconds).into());
            }
            Self::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            // The rest of the body was not read: hyper closes the connection instead of reading it.
            Self::BodyTooLarge { .. } | Self::BodyTimeout { .. } | Self::BodyUnreadable => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}

/// A status a program (or the gateways' app) chose. One outside 100..=999 cannot be sent: it
/// becomes 500, and the server's log says so.
pub(crate) fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or_else(|_| {
        tracing::error!("invalid HTTP status {status} from the application; answering 500 instead");
        StatusCode::INTERNAL_SERVER_ERROR
    })
}

/// The loaded project: a handler that takes `Ready` answers [`ApiError::NotReady`] while the
/// project is still loading, without running.
pub(crate) struct Ready(pub(crate) Arc<Served>);

impl FromRequestParts<AppState> for Ready {
    type Rejection = ApiError;

    async fn from_request_parts(_parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        state.served().cloned().map(Ready).ok_or(ApiError::NotReady)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_headers() {
        let response = ApiError::TooManyRequests {
            program: "P".into(),
            retry_after: 3,
        }
        .into_response();
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()[header::RETRY_AFTER], "3");
        let response = ApiError::Unauthorized("Not authenticated").into_response();
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(&ApiError::NotFound.body()[..], br#"{"detail":"Not Found"}"#);
        let response = ApiError::BodyTooLarge { limit: 10 }.into_response();
        assert_eq!(response.headers()[header::CONNECTION], "close");
    }

    #[test]
    fn invalid_status_becomes_500() {
        assert_eq!(status_code(1000), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(status_code(418), StatusCode::IM_A_TEAPOT);
        assert_eq!(
            ApiError::Internal {
                status: 502,
                request_id: "r".into()
            }
            .status(),
            502
        );
    }
}
