//! The `dspy_session` cookie: `"<issued_at>.<hex HMAC-SHA256(key = API key, msg = issued_at)>"`,
//! upstream's format. Valid for 7 days; changing `DSPY_API_KEY` ends every session.

use axum::http::{HeaderMap, header};
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub(crate) const COOKIE_NAME: &str = "dspy_session";
pub(crate) const MAX_AGE_SECONDS: i64 = 7 * 24 * 3600;
/// Clocks differ a little between machines; a session from further in the future is forged
/// or from a broken clock (upstream accepts any future time).
const FUTURE_SKEW_SECONDS: i64 = 300;

type HmacSha256 = Hmac<Sha256>;

pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn mac(key: &str, issued_at: i64) -> HmacSha256 {
    // HMAC takes keys of any length.
    let mut mac = HmacSha256::new_from_slice(key.as_bytes()).expect("HMAC accepts any key length");
    mac.update(issued_at.to_string().as_bytes());
    mac
}

pub(crate) fn issue(key: &str, issued_at: i64) -> String {
    let signature = hex::encode(mac(key, issued_at).finalize().into_bytes());
    format!("{issued_at}.{signature}")
}

/// Signature checked in constant time (`verify_slice`); expired or far-future sessions refused.
pub(crate) fn is_valid(key: &str, value: &str, now: i64) -> bool {
    let Some((issued, signature)) = value.split_once('.') else {
        return false;
    };
    if issued.is_empty() || issued.len() > 19 || !issued.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Ok(issued_at) = issued.parse::<i64>() else {
        return false;
    };
    let Ok(signature) = hex::decode(signature) else {
        return false;
    };
    if now - issued_at > MAX_AGE_SECONDS || issued_at - now > FUTURE_SKEW_SECONDS {
        return false;
    }
    mac(key, issued_at).verify_slice(&signature).is_ok()
}

/// Every `dspy_session` value in the request's `Cookie` headers.
pub(crate) fn cookie_values(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim_matches('"'))
}

/// `Set-Cookie` for a new session; `Secure` when the browser came over https.
pub(crate) fn set_cookie(value: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE_NAME}={value}; HttpOnly; Max-Age={MAX_AGE_SECONDS}; Path=/; SameSite=Lax{secure}")
}

/// `Set-Cookie` that removes the session.
pub(crate) fn clear_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{COOKIE_NAME}=\"\"; HttpOnly; Max-Age=0; expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; SameSite=Lax{secure}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_sessions_verify_until_they_expire() {
        let value = issue("k", 1_000_000);
        assert!(is_valid("k", &value, 1_000_000));
        assert!(is_valid("k", &value, 1_000_000 + MAX_AGE_SECONDS));
        assert!(!is_valid("k", &value, 1_000_001 + MAX_AGE_SECONDS));
        assert!(!is_valid("other", &value, 1_000_000));
        // Too far in the future: forged or a broken clock.
        assert!(!is_valid("k", &value, 1_000_000 - FUTURE_SKEW_SECONDS - 1));
    }

    #[test]
    fn tampered_sessions_are_refused() {
        let value = issue("k", 1_000_000);
        let (issued, signature) = value.split_once('.').unwrap();
        assert!(!is_valid("k", &format!("1000001.{signature}"), 1_000_000));
        assert!(!is_valid("k", &format!("{issued}.{}", &signature[2..]), 1_000_000));
        assert!(!is_valid("k", &format!("+{issued}.{signature}"), 1_000_000));
        assert!(!is_valid("k", "garbage", 1_000_000));
        assert!(!is_valid("k", "", 1_000_000));
    }
}
