//! Reading a program request's body: bounded in size and in time, before any slot is taken.
//!
//! A declared `Content-Length` above the limit is refused before a byte of the body is read;
//! a chunked body is cut off as soon as it passes the limit. The collected body is one
//! contiguous buffer (one copy of what arrived), handed to Python as is.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::backpressure::Limits;
use super::error::ApiError;

/// The body, or the error to answer instead (its response closes the connection, since the
/// rest of the body was not read).
pub(crate) async fn read_limited(headers: &HeaderMap, body: Body, limits: &Limits) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return Err(too_large(limits));
    }
    let collect = Limited::new(body, limits.max_body_bytes).collect();
    match tokio::time::timeout(limits.body_read_timeout, collect).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(err)) if err.downcast_ref::<LengthLimitError>().is_some() => Err(too_large(limits)),
        // The client broke the body off (reset, malformed chunking): FastAPI's wording.
        Ok(Err(_)) => Err(ApiError::BodyUnreadable),
        Err(_) => Err(ApiError::BodyTimeout {
            seconds: limits.body_read_timeout.as_secs_f64(),
        }),
    }
}

fn too_large(limits: &Limits) -> ApiError {
    ApiError::BodyTooLarge {
        limit: limits.max_body_bytes,
    }
}
