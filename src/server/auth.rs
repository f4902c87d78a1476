//! `--auth`: a request gets in with a bearer token (API clients) or a signed session cookie
//! (browsers, set by `/login`). Open routes need neither.
//!
//! Upstream answers an unauthenticated API call with a text/plain 500; we answer
//! `401 {"detail": ...}` with `WWW-Authenticate: Bearer`, and send browsers to `/login`.

use std::sync::{Arc, OnceLock};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AppState;
use super::auth_public::PublicRoutes;
use super::error::ApiError;
use super::login_limit::LoginLimiter;
use super::session;

/// Paths open without credentials (besides public gateway routes and [`OPEN_PREFIXES`]).
/// `/logout` is open: clearing a cookie needs no proof, and a stale session must be able to.
const OPEN_PATHS: &[&str] = &[
    "/login",
    "/logout",
    "/health",
    "/health/live",
    "/health/ready",
    "/favicon.ico",
];

/// The UI's static assets (CSS, JS, icons): the login page may need them, and they hold
/// nothing secret.
const OPEN_PREFIXES: &[&str] = &["/static/"];

const NOT_AUTHENTICATED: &str = "Not authenticated. Provide Authorization: Bearer <token> header.";
const WRONG_TOKEN: &str = "Invalid token. Provide Authorization: Bearer <token> with the server's DSPY_API_KEY.";
const BAD_SESSION: &str =
    "Session expired or invalid. Log in again at /login, or provide Authorization: Bearer <token> header.";

/// Where the API key came from, for the start-up message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeySource {
    Environment,
    /// `DSPY_API_KEY` was unset (or empty): a fresh key, valid until the process ends.
    Generated,
}

/// `server.login_*` settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoginSettings {
    pub(crate) attempts_per_minute: u32,
    pub(crate) tracked_addresses: usize,
}

impl LoginSettings {
    pub(crate) const DEFAULT_ATTEMPTS_PER_MINUTE: u32 = 10;
    pub(crate) const DEFAULT_TRACKED_ADDRESSES: usize = 10_000;
}

impl Default for LoginSettings {
    fn default() -> Self {
        Self {
            attempts_per_minute: Self::DEFAULT_ATTEMPTS_PER_MINUTE,
            tracked_addresses: Self::DEFAULT_TRACKED_ADDRESSES,
        }
    }
}

/// The authentication state shared by the middleware and the login routes.
#[derive(Clone)]
pub(crate) struct Auth(Arc<Inner>);

struct Inner {
    key: String,
    key_digest: [u8; 32],
    pub(super) limiter: LoginLimiter,
    /// Built on first use, once the project is loaded (gateways decide what is public).
    public: OnceLock<PublicRoutes>,
}

/// How a request's credentials fared.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Authenticated,
    Missing,
    WrongToken,
    BadSession,
}

impl Auth {
    pub(crate) fn new(key: String, login: LoginSettings) -> Self {
        let key_digest = Sha256::digest(key.as_bytes()).into();
        Self(Arc::new(Inner {
            key,
            key_digest,
            limiter: LoginLimiter::new(login.attempts_per_minute, login.tracked_addresses),
            public: OnceLock::new(),
        }))
    }

    /// Constant-time: both sides are hashed first, so neither content nor length leaks.
    pub(crate) fn token_matches(&self, candidate: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
        digest.ct_eq(&self.0.key_digest).into()
    }

    pub(crate) fn limiter(&self) -> &LoginLimiter {
        &self.0.limiter
    }

    pub(crate) fn new_session(&self) -> String {
        session::issue(&self.0.key, session::now())
    }

    pub(crate) fn verdict(&self, headers: &HeaderMap) -> Verdict {
        if let Some(token) = bearer_token(headers) {
            return if self.token_matches(token) {
                Verdict::Authenticated
            } else {
                Verdict::WrongToken
            };
        }
        let mut cookies = session::cookie_values(headers).peekable();
        if cookies.peek().is_none() {
            return Verdict::Missing;
        }
        let now = session::now();
        if cookies.any(|value| session::is_valid(&self.0.key, value, now)) {
            Verdict::Authenticated
        } else {
            Verdict::BadSession
        }
    }

    fn is_open(&self, state: &AppState, request: &Request) -> bool {
        let path = request.uri().path();
        let trimmed = match path.trim_end_matches('/') {
            "" => "/",
            t => t,
        };
        if OPEN_PATHS.contains(&trimmed) || OPEN_PREFIXES.iter().any(|p| path.starts_with(p)) {
            return true;
        }
        // A built-in route answered it (MatchedPath is set): no gateway is involved.
        if request.extensions().get::<MatchedPath>().is_some() {
            return false;
        }
        let Some(served) = state.served() else {
            return false;
        };
        self.0
            .public
            .get_or_init(|| PublicRoutes::new(&served.engine.routes))
            .is_public(served, request.method(), path)
    }
}

/// `Authorization: Bearer <token>` (scheme case-insensitive, token trimmed), as upstream.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// True for a browser navigating (it asks for HTML); API paths always get JSON.
pub(crate) fn wants_html(headers: &HeaderMap, path: &str) -> bool {
    !path.starts_with("/api/")
        && headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains("text/html"))
}

pub(crate) fn see_other(location: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, location.to_owned())]).into_response()
}

/// The middleware state: the auth settings and the served project (for public gateways).
#[derive(Clone)]
pub(crate) struct Guard {
    pub(crate) auth: Auth,
    pub(crate) state: AppState,
}

pub(crate) async fn require(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    if guard.auth.is_open(&guard.state, &request) {
        return next.run(request).await;
    }
    let message = match guard.auth.verdict(request.headers()) {
        Verdict::Authenticated => return next.run(request).await,
        Verdict::Missing => NOT_AUTHENTICATED,
        Verdict::WrongToken => WRONG_TOKEN,
        Verdict::BadSession => BAD_SESSION,
    };
    if wants_html(request.headers(), request.uri().path()) {
        return see_other("/login");
    }
    ApiError::Unauthorized(message).into_response()
}

/// `GET /health`: exists only with `--auth`, as upstream (an open probe).
pub(crate) async fn health() -> Response {
    super::response::json(StatusCode::OK, &serde_json::json!({"status": "ok"}))
}

/// True for requests that came over https, directly or through a proxy that says so.
pub(crate) fn is_https(request_scheme: Option<&str>, headers: &HeaderMap) -> bool {
    request_scheme == Some("https")
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_token_trimmed() {
        assert_eq!(
            bearer_token(&headers(&[("authorization", "bEaReR  abc ")])),
            Some("abc")
        );
        assert_eq!(bearer_token(&headers(&[("authorization", "Basic abc")])), None);
        assert_eq!(bearer_token(&headers(&[("authorization", "Bearer")])), None);
    }

    #[test]
    fn verdicts() {
        let auth = Auth::new("secret-key".into(), LoginSettings::default());
        assert_eq!(auth.verdict(&HeaderMap::new()), Verdict::Missing);
        assert_eq!(
            auth.verdict(&headers(&[("authorization", "Bearer secret-key")])),
            Verdict::Authenticated
        );
        assert_eq!(
            auth.verdict(&headers(&[("authorization", "Bearer secret-ke")])),
            Verdict::WrongToken
        );
        let cookie = format!("other=1; dspy_session={}", auth.new_session());
        assert_eq!(auth.verdict(&headers(&[("cookie", &cookie)])), Verdict::Authenticated);
        assert_eq!(
            auth.verdict(&headers(&[("cookie", "dspy_session=1.00")])),
            Verdict::BadSession
        );
        // A session signed with another key does not open this server.
        let foreign = Auth::new("other-key".into(), LoginSettings::default()).new_session();
        let cookie = format!("dspy_session={foreign}");
        assert_eq!(auth.verdict(&headers(&[("cookie", &cookie)])), Verdict::BadSession);
    }

    #[test]
    fn html_only_for_browser_navigation_outside_the_api() {
        let browser = headers(&[("accept", "text/html,application/xhtml+xml,*/*;q=0.8")]);
        assert!(wants_html(&browser, "/"));
        assert!(!wants_html(&browser, "/api/metrics"));
        assert!(!wants_html(&headers(&[("accept", "*/*")]), "/programs"));
    }

    #[test]
    fn https_from_the_forwarded_proto() {
        assert!(is_https(None, &headers(&[("x-forwarded-proto", "HTTPS, http")])));
        assert!(!is_https(None, &headers(&[("x-forwarded-proto", "http")])));
        assert!(is_https(Some("https"), &HeaderMap::new()));
    }
}
