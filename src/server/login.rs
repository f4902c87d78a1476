//! `GET`/`POST /login` and `POST /logout` (only with `--auth`).
//!
//! Unlike upstream, the page escapes the `error` text it shows (upstream inserted it as HTML).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use axum::body::to_bytes;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::auth::{Auth, Verdict, is_https, see_other};
use super::error::ApiError;
use super::response::json;
use super::session;

const PAGE: &str = include_str!("templates/login.html");
/// A login form is a few hundred bytes; anything bigger is not one.
const MAX_FORM_BYTES: usize = 16 * 1024;
/// Longer error texts are cut (the page shows messages, not documents).
const MAX_ERROR_CHARS: usize = 200;
/// The page loads nothing and may not be framed (clickjacking) or post elsewhere.
const PAGE_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";

pub(crate) fn page(auth: &Auth, request: &Request) -> Response {
    if auth.verdict(request.headers()) == Verdict::Authenticated {
        return see_other("/");
    }
    let error = request
        .uri()
        .query()
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "error"))
        .map(|(_, v)| v.chars().take(MAX_ERROR_CHARS).collect::<String>())
        .filter(|e| !e.is_empty());
    let error = error.map_or_else(String::new, |e| {
        format!("<div class=\"error\" role=\"alert\">{}</div>", escape_html(&e))
    });
    let body = PAGE.replace("{{error}}", &error);
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, PAGE_POLICY),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

pub(crate) async fn submit(auth: Auth, request: Request) -> Response {
    let client = client_address(&request);
    if let Err(wait) = auth.limiter().check(client, Instant::now()) {
        tracing::warn!(target: "dspy_cli.server.auth", "Login rate limit reached for {client}: refusing logins for {wait}s");
        return ApiError::LoginRateLimited { wait_seconds: wait }.into_response();
    }
    let secure = is_https(request.uri().scheme_str(), request.headers());
    let Ok(body) = to_bytes(request.into_body(), MAX_FORM_BYTES).await else {
        return ApiError::LoginFormTooLarge { limit: MAX_FORM_BYTES }.into_response();
    };
    let Some(token) = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v)
    else {
        return missing_token();
    };
    if !auth.token_matches(&token) {
        auth.limiter().record_failure(client, Instant::now());
        tracing::warn!(target: "dspy_cli.server.auth", "Failed login from {client}");
        return see_other("/login?error=Invalid+token");
    }
    let mut response = see_other("/");
    set_cookie(&mut response, &session::set_cookie(&auth.new_session(), secure));
    response
}

pub(crate) async fn logout(request: Request) -> Response {
    let secure = is_https(request.uri().scheme_str(), request.headers());
    let mut response = see_other("/login");
    set_cookie(&mut response, &session::clear_cookie(secure));
    response
}

fn set_cookie(response: &mut Response, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    // Never cache a response that sets or clears a session.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// FastAPI's answer to a form without the field.
fn missing_token() -> Response {
    json(
        StatusCode::UNPROCESSABLE_ENTITY,
        &serde_json::json!({"detail": [{"type": "missing", "loc": ["body", "token"], "msg": "Field required", "input": null}]}),
    )
}

fn client_address(request: &Request) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

pub(crate) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape_html;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape_html("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}
