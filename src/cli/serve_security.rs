//! `--auth` and CORS settings for `serve`: the API key, the login limits, the CORS origins.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

use super::serve_settings::SettingsError;
use crate::config::{EnvVars, ProjectConfig};
use crate::server::{Auth, Cors, CorsOrigins, KeySource, LoginSettings, Security};

/// Shorter keys are guessable; the generated one has 43 characters (256 random bits).
const SHORT_KEY_CHARS: usize = 16;
const MAX_ATTEMPTS_PER_MINUTE: u64 = 10_000;
const MAX_TRACKED_ADDRESSES: u64 = 10_000_000;

/// What the configuration says, read before anything starts.
pub(crate) struct SecuritySettings {
    pub(crate) login: LoginSettings,
    pub(crate) cors: Option<CorsOrigins>,
}

pub(super) fn security_settings(config: &ProjectConfig) -> Result<SecuritySettings, SettingsError> {
    let attempts = config
        .server
        .login_attempts_per_minute
        .within(1..=MAX_ATTEMPTS_PER_MINUTE)?;
    let tracked = config
        .server
        .login_tracked_addresses
        .within(1..=MAX_TRACKED_ADDRESSES)?;
    let env = std::env::var(EnvVars::DSPY_CORS_ORIGINS).ok();
    let cors = CorsOrigins::resolve(env.as_deref(), config.server.cors_origins.raw())?;
    Ok(SecuritySettings {
        login: LoginSettings {
            attempts_per_minute: attempts.map_or(LoginSettings::DEFAULT_ATTEMPTS_PER_MINUTE, |n| {
                u32::try_from(n).unwrap_or(u32::MAX)
            }),
            tracked_addresses: tracked.map_or(LoginSettings::DEFAULT_TRACKED_ADDRESSES, |n| {
                usize::try_from(n).unwrap_or(usize::MAX)
            }),
        },
        cors,
    })
}

/// `DSPY_API_KEY` (the environment or `.env`), or a fresh key printed once, as upstream. An
/// empty value counts as unset: an empty key would let anyone in. A generated key is also put
/// in the environment Python sees (`environment`), as upstream exports it.
pub(crate) fn api_key(environment: &mut Vec<(String, String)>) -> (String, KeySource) {
    match std::env::var(EnvVars::DSPY_API_KEY) {
        Ok(key) if !key.trim().is_empty() => {
            if key.chars().count() < SHORT_KEY_CHARS {
                tracing::warn!(target: "dspy_cli.server.auth", "DSPY_API_KEY has fewer than {SHORT_KEY_CHARS} characters and is easy to guess; use a long random value (e.g. `openssl rand -base64 32`).");
            }
            (key, KeySource::Environment)
        }
        found => {
            if found.is_ok() {
                tracing::warn!(target: "dspy_cli.server.auth", "DSPY_API_KEY is set but empty; ignoring it.");
            }
            let key = generate_key();
            let rule = "=".repeat(60);
            for line in [
                rule.as_str(),
                "DSPY_API_KEY not set. Generated temporary token:",
                &format!("  {key}"),
                "Set DSPY_API_KEY as an environment secret for a persistent token.",
                rule.as_str(),
            ] {
                tracing::warn!(target: "dspy_cli.server.auth", "{line}");
            }
            environment.retain(|(name, _)| name != EnvVars::DSPY_API_KEY);
            environment.push((EnvVars::DSPY_API_KEY.into(), key.clone()));
            (key, KeySource::Generated)
        }
    }
}

/// 32 random bytes as URL-safe base64 without padding: Python's `secrets.token_urlsafe(32)`.
fn generate_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The server's auth (with `--auth`: the API key, generated if need be) and CORS.
pub(crate) fn build(auth: bool, settings: &SecuritySettings, environment: &mut Vec<(String, String)>) -> Security {
    Security {
        auth: auth.then(|| Auth::new(api_key(environment).0, settings.login)),
        cors: settings.cors.clone().map(Cors::new),
    }
}

pub(crate) fn print_cors(settings: &SecuritySettings) {
    match &settings.cors {
        Some(origins) => println!("  CORS: {}", origins.describe()),
        None => println!("  CORS: off"),
    }
}

/// Upstream's start-up lines for `--auth` (the key itself is never printed here).
pub(crate) fn auth_banner(settings: &SecuritySettings, enabled: bool) -> String {
    if !enabled {
        return String::new();
    }
    format!(
        "Authentication: ENABLED\n  API clients: Authorization: Bearer <token>\n  Browser: Visit /login to authenticate\n  Login limit: {} failed attempts per minute per address\n\n",
        settings.login.attempts_per_minute
    )
}

#[cfg(test)]
mod tests {
    use super::generate_key;

    #[test]
    fn generated_keys_look_like_token_urlsafe_32() {
        let key = generate_key();
        assert_eq!(key.len(), 43);
        assert!(key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(key, generate_key());
    }
}
