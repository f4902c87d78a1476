//! Credentials removed from text before it reaches a client, a log line or stderr.
//!
//! LM client errors quote the request URL (`api_base`), and URLs may carry credentials:
//! `user:pass@` user info, `?api_key=` style query parameters, bearer tokens. Each is replaced by
//! `***`, keeping the rest (host, path, parameter names) so the message still helps.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Regex, RegexSet};

/// Parameter names whose values are secrets, in a query string or `name=value` text.
const SECRET_NAMES: &str = r"api[_-]?key|apikey|key|token|access[_-]?token|refresh[_-]?token|id[_-]?token|auth|authorization|password|passwd|pwd|secret|client[_-]?secret|sig|signature|x-api-key|code";

/// Pattern and replacement of each kind of credential.
static RULES: LazyLock<Vec<(String, &'static str)>> = LazyLock::new(|| {
    let rule = |pattern: String, replacement| (pattern, replacement);
    vec![
        // scheme://user:pass@host -> scheme://***@host
        rule(r#"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@"'\\<>]+@"#.into(), "${1}***@"),
        // user:pass@host without a scheme, as connection errors quote it
        rule(
            r#"[^\s/@"'\\<>:=(\[]+:[^\s/@"'\\<>]+@([A-Za-z0-9\[])"#.into(),
            "***@${1}",
        ),
        // ?api_key=... or &token=... in a URL
        rule(format!(r#"(?i)([?&;](?:{SECRET_NAMES})=)[^&#\s"'\\<>]+"#), "${1}***"),
        // api_key=..., api_key='...', "api_key": "..." in messages and reprs
        rule(
            r#"(?i)\b((?:api[_-]?key|access[_-]?token|client[_-]?secret|password)["']?\s*[:=]\s*["']?)[^\s"'&,;})\\]+"#
                .into(),
            "${1}***",
        ),
        rule(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+".into(), "${1}***"),
        // OpenAI-style keys quoted on their own
        rule(r"\b(sk-)[A-Za-z0-9_-]{12,}".into(), "${1}***"),
    ]
});

static PATTERNS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    let compile = |pattern| Regex::new(pattern).expect("redaction pattern compiles");
    RULES
        .iter()
        .map(|(pattern, replacement)| (compile(pattern.as_str()), *replacement))
        .collect()
});

/// All patterns at once: most text (every access log line) holds no credential and is
/// scanned a single time.
static ANY: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new(RULES.iter().map(|(pattern, _)| pattern.as_str())).expect("redaction patterns compile")
});

/// `text` with every credential replaced by `***` (borrowed when there is none).
pub(crate) fn redact(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    if !ANY.is_match(text) {
        return out;
    }
    for (pattern, replacement) in PATTERNS.iter() {
        if let Cow::Owned(replaced) = pattern.replace_all(&out, *replacement) {
            out = Cow::Owned(replaced);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_credentials_and_keeps_the_rest() {
        let cases = [
            (
                "Connection refused: http://alice:s3cr3t@10.0.0.5:8080/v1/chat",
                "Connection refused: http://***@10.0.0.5:8080/v1/chat",
            ),
            (
                "GET https://h/v1?api_key=abc123&model=x&token=t0k",
                "GET https://h/v1?api_key=***&model=x&token=***",
            ),
            (
                "headers: Authorization: Bearer eyJhbGciOi.J9x-y_z",
                "headers: Authorization: Bearer ***",
            ),
            ("LM(api_key='sk-live', model='m')", "LM(api_key='***', model='m')"),
            ("{\"api_key\": \"k\"}", "{\"api_key\": \"***\"}"),
            ("key sk-abcdefghijklmnop1234 leaked", "key sk-*** leaked"),
            (
                "[openai/m] failed to connect to alice:s3cret@127.0.0.1:9: refused",
                "[openai/m] failed to connect to ***@127.0.0.1:9: refused",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(redact(text), expected, "for {text:?}");
        }
    }

    #[test]
    fn plain_text_is_untouched_and_borrowed() {
        let text = "Output of P does not match: https://example.com/docs?page=2 (basic auth)";
        assert!(matches!(redact(text), Cow::Borrowed(_)));
    }
}
