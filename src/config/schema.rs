//! The shape of `dspy.config.yaml`: serde structs naming every key we read, so a misspelt key
//! is reported by name at start-up instead of being ignored in silence.
//!
//! Values keep the YAML value they came from beside the typed one ([`Setting`]): our error
//! messages quote what the user wrote (`got 1e20`), and range checks need the key's name. The
//! checks themselves live with the setting they bound (`cli/serve_limits.rs`, ...).

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::ConfigError;

/// One value under `server:`: what the YAML held and, when it has the expected type, that
/// value typed. `null` (or no key) is unset.
#[derive(Debug, Clone)]
pub(crate) struct Setting<T> {
    key: &'static str,
    raw: Option<Value>,
    typed: Option<T>,
}

impl<T> Default for Setting<T> {
    fn default() -> Self {
        Self {
            key: "",
            raw: None,
            typed: None,
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Setting<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Option::<Value>::deserialize(deserializer)?.filter(|v| !v.is_null());
        let typed = raw.as_ref().and_then(|v| T::deserialize(v).ok());
        Ok(Self { key: "", raw, typed })
    }
}

impl<T> Setting<T> {
    /// The YAML value as written (`None` when unset).
    pub(crate) fn raw(&self) -> Option<&Value> {
        self.raw.as_ref()
    }

    /// The typed value, when set with the expected type.
    pub(crate) fn typed(&self) -> Option<&T> {
        self.typed.as_ref()
    }

    fn invalid(&self, expected: &str) -> ConfigError {
        let got = self.raw.as_ref().map_or_else(String::new, Value::to_string);
        invalid(&format!("'server.{}' must be {expected}, got {got}", self.key))
    }
}

impl Setting<u64> {
    /// A whole number within `range`, if set: a value outside it (0 where it would make the
    /// server useless, or absurdly large) is an error naming the key.
    pub(crate) fn within(&self, range: RangeInclusive<u64>) -> Result<Option<u64>, ConfigError> {
        match (&self.raw, self.typed) {
            (None, _) => Ok(None),
            (Some(_), Some(n)) if range.contains(&n) => Ok(Some(n)),
            _ => Err(self.invalid(&format!("a whole number from {} to {}", range.start(), range.end()))),
        }
    }
}

/// The largest timeout accepted: one day.
const MAX_SECONDS: f64 = 86_400.0;

impl Setting<f64> {
    /// A number of seconds, if set: above 0 and at most one day (larger values are mistakes,
    /// and would overflow the timer).
    pub(crate) fn seconds(&self) -> Result<Option<Duration>, ConfigError> {
        match (&self.raw, self.typed) {
            (None, _) => Ok(None),
            (Some(_), Some(s)) if s > 0.0 && s <= MAX_SECONDS => Ok(Some(Duration::from_secs_f64(s))),
            _ => Err(self.invalid(&format!("a number of seconds above 0 and at most {MAX_SECONDS}"))),
        }
    }
}

impl Setting<bool> {
    pub(crate) fn flag(&self) -> Result<Option<bool>, ConfigError> {
        match (&self.raw, self.typed) {
            (None, _) => Ok(None),
            (Some(_), Some(b)) => Ok(Some(b)),
            _ => Err(self.invalid("true or false")),
        }
    }
}

pub(super) fn invalid(msg: &str) -> ConfigError {
    ConfigError::Invalid(format!("Invalid configuration: {msg}"))
}

/// Declares a section: its struct (every field a [`Setting`] named after its key), the list of
/// its keys, and the unknown keys it was given.
macro_rules! section {
    ($(#[$meta:meta])* $name:ident { $($(#[$field_meta:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, Deserialize)]
        pub(crate) struct $name {
            $($(#[$field_meta])* #[serde(default)] pub(crate) $field: Setting<$ty>,)*
            /// Keys this version does not read (warned about at start-up).
            #[serde(flatten)]
            unknown: BTreeMap<String, Value>,
        }

        impl $name {
            pub(crate) const KEYS: &'static [&'static str] = &[$(stringify!($field)),*];

            /// Give every setting its key's name, for error messages.
            fn named(mut self) -> Self {
                $(self.$field.key = stringify!($field);)*
                self
            }
        }
    };
}

section! {
    /// `server:`: our extension to upstream's file (upstream reads only `cors_origins`,
    /// `sync_worker_threads` and `max_concurrent_per_program`). Each key is in the README.
    ServerSection {
        // Concurrency and the request's life (cli/serve_limits.rs).
        max_concurrent_per_program: u64,
        max_queued_per_program: u64,
        queue_timeout_seconds: f64,
        request_timeout_seconds: f64,
        max_body_bytes: u64,
        body_read_timeout_seconds: f64,
        sync_worker_threads: u64,
        fresh_instance_per_request: bool,
        // Threads of the Rust HTTP runtime (cli/serve_limits.rs).
        runtime_threads: u64,
        // Connections (cli/serve_limits.rs).
        max_connections: u64,
        max_header_bytes: u64,
        header_read_timeout_seconds: f64,
        keep_alive_timeout_seconds: f64,
        write_timeout_seconds: f64,
        // Worker processes (supervisor/settings.rs).
        workers: u64,
        max_requests_per_worker: u64,
        max_rss_mb: u64,
        // Cron gateways.
        timezone: String,
        // Security (cli/serve_security.rs): a string or a list, checked by `CorsOrigins`.
        cors_origins: Value,
        login_attempts_per_minute: u64,
        login_tracked_addresses: u64,
        // Logs and errors (cli/data_settings.rs).
        log_max_bytes: u64,
        log_backups: u64,
        log_image_max_bytes: u64,
        log_images_max_total_bytes: u64,
        expose_errors: bool,
    }
}

/// Top-level keys. `models` and `program_models` are validated by `ProjectConfig` with
/// upstream's messages; `app_id`, `description` (titles), `version` and `default_model`
/// (keys upstream's files and code carry) are read by the OpenAPI and UI code in Python.
const TOP_LEVEL_KEYS: &[&str] = &[
    "app_id",
    "description",
    "version",
    "default_model",
    "models",
    "program_models",
    "server",
];
const MODELS_KEYS: &[&str] = &["default", "registry"];
/// What a registry entry may hold (passed to `dspy.LM`, or `env:` naming the key's variable).
const ENTRY_KEYS: &[&str] = &[
    "model",
    "model_type",
    "temperature",
    "max_tokens",
    "api_key",
    "api_base",
    "cache",
    "env",
];

/// The `server:` section of `document` (a bare `server:` is empty, unlike upstream). One that
/// is not a mapping is ignored, as before this layer existed, and [`unknown_keys`] says so.
pub(super) fn server_section(document: &Value) -> ServerSection {
    document
        .get("server")
        .filter(|v| v.is_object())
        // Every field takes any value (a wrong type is reported when the setting is read).
        .and_then(|section| ServerSection::deserialize(section).ok())
        .unwrap_or_default()
        .named()
}

/// One line per key this version does not know, with the closest known key when one is close.
pub(super) fn unknown_keys(document: &Value, server: &ServerSection) -> Vec<String> {
    let mut warnings = Vec::new();
    let mut check = |path: &str, keys: &mut dyn Iterator<Item = &String>, known: &[&str]| {
        for key in keys {
            if !known.contains(&key.as_str()) {
                warnings.push(unknown_key_warning(path, key, known));
            }
        }
    };
    if let Some(top) = document.as_object() {
        check("", &mut top.keys(), TOP_LEVEL_KEYS);
    }
    let models = document.get("models");
    if let Some(models) = models.and_then(Value::as_object) {
        check("models.", &mut models.keys(), MODELS_KEYS);
    }
    let registry = models.and_then(|m| m.get("registry")).and_then(Value::as_object);
    for (alias, entry) in registry.into_iter().flatten() {
        if let Some(entry) = entry.as_object() {
            check(&format!("models.registry.{alias}."), &mut entry.keys(), ENTRY_KEYS);
        }
    }
    check("server.", &mut server.unknown.keys(), ServerSection::KEYS);
    if let Some(other) = document.get("server").filter(|v| !v.is_null() && !v.is_object()) {
        warnings.push(format!(
            "dspy.config.yaml: `server` must be a mapping of settings, got {other}; it is ignored."
        ));
    }
    warnings
}

fn unknown_key_warning(path: &str, key: &str, known: &[&str]) -> String {
    let close = difflib::get_close_matches(key, known.to_vec(), 1, 0.6);
    let hint = close
        .first()
        .map(|k| format!(" Did you mean `{k}`?"))
        .unwrap_or_default();
    format!("dspy.config.yaml: unknown key `{path}{key}` is ignored.{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(yaml: &str) -> Value {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn unknown_keys_are_named_with_a_hint() {
        let doc = document(
            "app_id: x\nversion: 1\nmodels:\n  default: a\n  registry:\n    a: {model: m, temprature: 0}\nserver:\n  max_conections: 5\n  zzz: 1\nextra: 1\n",
        );
        let server = server_section(&doc);
        assert_eq!(
            unknown_keys(&doc, &server),
            [
                "dspy.config.yaml: unknown key `extra` is ignored.",
                "dspy.config.yaml: unknown key `models.registry.a.temprature` is ignored. Did you mean `temperature`?",
                "dspy.config.yaml: unknown key `server.max_conections` is ignored. Did you mean `max_connections`?",
                "dspy.config.yaml: unknown key `server.zzz` is ignored.",
            ]
        );
    }

    #[test]
    fn upstream_files_have_no_unknown_keys() {
        let doc = document(
            "app_id: demo\ndescription: d\nmodels:\n  default: m\n  registry:\n    m:\n      model: openai/gpt-4o-mini\n      model_type: chat\n      env: OPENAI_API_KEY\n      max_tokens: 16000\n      temperature: 1.0\n      api_base: null\n      cache: false\nprogram_models:\n  P: m\nserver:\n  cors_origins: '*'\n  sync_worker_threads: 8\n  max_concurrent_per_program: 20\n",
        );
        let server = server_section(&doc);
        assert!(unknown_keys(&doc, &server).is_empty());
        assert_eq!(server.sync_worker_threads.within(1..=200).unwrap(), Some(8));
    }

    #[test]
    fn values_are_checked_with_the_key_named() {
        let doc =
            document("server:\n  a_bool: 1\n  expose_errors: maybe\n  log_backups: -1\n  queue_timeout_seconds: 0\n");
        let server = server_section(&doc);
        assert_eq!(
            server.expose_errors.flag().unwrap_err().to_string(),
            "Invalid configuration: 'server.expose_errors' must be true or false, got \"maybe\""
        );
        assert_eq!(
            server.log_backups.within(0..=10).unwrap_err().to_string(),
            "Invalid configuration: 'server.log_backups' must be a whole number from 0 to 10, got -1"
        );
        assert!(
            server
                .queue_timeout_seconds
                .seconds()
                .unwrap_err()
                .to_string()
                .contains("'server.queue_timeout_seconds' must be a number of seconds above 0")
        );
        assert!(server.request_timeout_seconds.seconds().unwrap().is_none());
    }
}
