//! `X-Request-ID`: taken from the client when it is a safe token, generated otherwise, and
//! carried into the response header, the access log and the inference log line.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, HeaderValue};

pub(crate) static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const MAX_LEN: usize = 128;

/// The request id of one request (a request extension).
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub(crate) Arc<str>);

impl RequestId {
    /// The client's id if it is 1-128 characters of `A-Z a-z 0-9 - _ . : + = /`; else a new one.
    /// Anything else (spaces, quotes, control characters) could forge or break log lines.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Self {
        let client = headers
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|id| is_valid(id));
        Self(client.map_or_else(generate, Arc::from))
    }

    pub(crate) fn header_value(&self) -> HeaderValue {
        HeaderValue::from_str(&self.0).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
    }
}

fn is_valid(id: &str) -> bool {
    (1..=MAX_LEN).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:+=/".contains(&b))
}

/// 32 random hex digits (a UUID's worth of randomness).
fn generate() -> Arc<str> {
    Arc::from(format!("{:032x}", rand::random::<u128>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_for(value: Option<&str>) -> String {
        let mut headers = HeaderMap::new();
        if let Some(v) = value {
            headers.insert(&REQUEST_ID, HeaderValue::from_str(v).unwrap());
        }
        RequestId::from_headers(&headers).0.to_string()
    }

    #[test]
    fn valid_ids_are_kept_and_others_replaced() {
        assert_eq!(id_for(Some("req-42_a.b:c")), "req-42_a.b:c");
        for bad in [
            None,
            Some(""),
            Some("has space"),
            Some("quote\"d"),
            Some(&"x".repeat(129)),
        ] {
            let id = id_for(bad);
            assert_eq!(id.len(), 32, "{bad:?} -> {id}");
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        }
        assert_ne!(id_for(None), id_for(None));
    }
}
