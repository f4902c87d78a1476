//! CORS with Starlette's `CORSMiddleware` semantics (reference server.md §12).
//!
//! `*` allows every origin without credentials; a list allows exactly those origins, with
//! credentials. Unlike upstream, CORS runs outside authentication: preflights are answered
//! before auth, and 401 responses carry CORS headers, so browser clients can read them.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Starlette's list for `allow_methods=["*"]`.
const ALL_METHODS: &[&str] = &["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"];
const MAX_AGE_SECONDS: &str = "600";

/// A `server.cors_origins` value that is not a list of origins.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CorsError {
    #[error("'server.cors_origins' must list origins as strings, got {0}")]
    NotAString(serde_json::Value),
    #[error("'server.cors_origins' must be \"*\", a comma-separated string or a list of origins, got {0}")]
    WrongType(serde_json::Value),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CorsOrigins {
    /// `*`: any origin, no credentials.
    Any,
    /// Exactly these origins, with credentials.
    Listed(Vec<String>),
}

impl CorsOrigins {
    /// `DSPY_CORS_ORIGINS` if it is set at all (even empty), else `server.cors_origins`.
    /// `None`: no CORS headers at all.
    pub(crate) fn resolve(env: Option<&str>, config: Option<&serde_json::Value>) -> Result<Option<Self>, CorsError> {
        let origins: Vec<String> = match (env, config) {
            (Some(text), _) => split(text),
            (None, None | Some(serde_json::Value::Null)) => Vec::new(),
            (None, Some(serde_json::Value::String(text))) => split(text),
            (None, Some(serde_json::Value::Array(items))) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(|s| s.trim().to_owned())
                        .ok_or_else(|| CorsError::NotAString(item.clone()))
                })
                .filter(|o| o.as_ref().map_or(true, |s| !s.is_empty()))
                .collect::<Result<_, _>>()?,
            (None, Some(other)) => {
                return Err(CorsError::WrongType(other.clone()));
            }
        };
        if origins.is_empty() {
            return Ok(None);
        }
        if origins.iter().any(|o| o == "*") {
            if origins.len() > 1 {
                // Starlette would allow every origin *with* credentials here; we refuse that.
                tracing::warn!(
                    "CORS origins {origins:?} contain \"*\": allowing every origin without credentials (list the origins instead of \"*\" to allow credentials)"
                );
            }
            return Ok(Some(Self::Any));
        }
        Ok(Some(Self::Listed(origins)))
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Any => "* (any origin, no credentials)".to_owned(),
            Self::Listed(origins) => format!("{} (with credentials)", origins.join(", ")),
        }
    }
}

fn split(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[derive(Clone)]
pub(crate) struct Cors(Arc<CorsOrigins>);

impl Cors {
    pub(crate) fn new(origins: CorsOrigins) -> Self {
        Self(Arc::new(origins))
    }

    fn credentials(&self) -> bool {
        matches!(*self.0, CorsOrigins::Listed(_))
    }

    fn allows(&self, origin: &str) -> bool {
        match &*self.0 {
            CorsOrigins::Any => true,
            CorsOrigins::Listed(origins) => origins.iter().any(|o| o == origin),
        }
    }

    fn preflight(&self, origin: &HeaderValue, headers: &HeaderMap) -> Response {
        let mut out = HeaderMap::new();
        let mut failures = Vec::new();
        if self.credentials() {
            out.insert(header::VARY, HeaderValue::from_static("Origin"));
            out.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        } else {
            out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        }
        if self.allows(origin.to_str().unwrap_or("")) {
            if self.credentials() {
                out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            }
        } else {
            failures.push("origin");
        }
        let method = headers
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|m| m.to_str().ok())
            .unwrap_or("");
        if !ALL_METHODS.contains(&method) {
            failures.push("method");
        }
        out.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"),
        );
        out.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(MAX_AGE_SECONDS),
        );
        if let Some(requested) = headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
            out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
        }
        let (status, body) = if failures.is_empty() {
            (StatusCode::OK, "OK".to_owned())
        } else {
            (
                StatusCode::BAD_REQUEST,
                format!("Disallowed CORS {}", failures.join(", ")),
            )
        };
        out.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        (status, out, body).into_response()
    }

    fn decorate(&self, response: &mut Response, origin: HeaderValue, has_cookie: bool) {
        let credentials = self.credentials();
        let allowed = self.allows(origin.to_str().unwrap_or(""));
        let headers = response.headers_mut();
        if credentials {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        } else {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        }
        // Starlette echoes the origin for a wildcard request with cookies, and for listed ones.
        if (!credentials && has_cookie) || (credentials && allowed) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
}

pub(crate) async fn apply(State(cors): State<Cors>, request: Request, next: Next) -> Response {
    let Some(origin) = request.headers().get(header::ORIGIN).cloned() else {
        return next.run(request).await;
    };
    if request.method() == Method::OPTIONS && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) {
        return cors.preflight(&origin, request.headers());
    }
    let has_cookie = request.headers().contains_key(header::COOKIE);
    let mut response = next.run(request).await;
    cors.decorate(&mut response, origin, has_cookie);
    response
}

#[cfg(test)]
mod tests {
    use super::CorsOrigins;
    use serde_json::json;

    #[test]
    fn environment_wins_even_when_empty() {
        let config = json!("*");
        assert_eq!(CorsOrigins::resolve(Some(""), Some(&config)), Ok(None));
        assert_eq!(CorsOrigins::resolve(None, Some(&config)), Ok(Some(CorsOrigins::Any)));
        assert_eq!(
            CorsOrigins::resolve(Some(" http://a , http://b "), None),
            Ok(Some(CorsOrigins::Listed(vec!["http://a".into(), "http://b".into()])))
        );
    }

    #[test]
    fn config_forms() {
        assert_eq!(
            CorsOrigins::resolve(None, Some(&json!(["*"]))),
            Ok(Some(CorsOrigins::Any))
        );
        assert_eq!(
            CorsOrigins::resolve(None, Some(&json!(["http://a", "*"]))),
            Ok(Some(CorsOrigins::Any))
        );
        assert_eq!(CorsOrigins::resolve(None, Some(&json!([]))), Ok(None));
        assert!(
            CorsOrigins::resolve(None, Some(&json!([1])))
                .unwrap_err()
                .to_string()
                .contains("server.cors_origins")
        );
        assert!(CorsOrigins::resolve(None, Some(&json!(true))).is_err());
    }
}
