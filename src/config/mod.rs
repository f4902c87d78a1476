//! Project detection and `dspy.config.yaml` loading.
//!
//! Owns everything the server reads from disk before it starts: the project layout, the YAML
//! config, `.env`, and `${{ env.NAME }}` interpolation. It never touches Python.

mod dotenv;
mod env_vars;
mod interpolate;
mod project;
mod schema;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

pub(crate) use env_vars::EnvVars;
pub(crate) use project::{Project, is_project_dir, locate_package};
pub(crate) use schema::ServerSection;
use schema::invalid;

/// Errors in `dspy.config.yaml`. Messages match dspy-cli 0.1.13 so scripts keep working.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error(
        "Configuration file not found: {0}\nMake sure you're running this command from a DSPy project directory.\nCreate a new project with: dspy-cli new <project-name>"
    )]
    NotFound(PathBuf),
    #[error("Failed to parse configuration file: {0}")]
    Parse(String),
    #[error("Configuration file is empty")]
    Empty,
    #[error("Configuration must contain 'models' section")]
    NoModels,
    #[error("Configuration must specify 'models.default'")]
    NoDefault,
    #[error("Configuration must contain 'models.registry'")]
    NoRegistry,
    #[error("Model alias '{alias}' not found in registry.\nAvailable models: {available}")]
    UnknownAlias { alias: String, available: String },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Interpolation(#[from] interpolate::InterpolationError),
}

/// One entry of `models.registry`.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct ModelEntry {
    pub(crate) alias: String,
    /// Everything the entry holds (`model`, `model_type`, `api_key`, ...), after `env:` lookup.
    pub(crate) settings: serde_json::Map<String, Value>,
}

/// The validated contents of `dspy.config.yaml`.
#[derive(Debug, Clone)]
pub(crate) struct ProjectConfig {
    /// The whole document as JSON (unknown keys kept), handed to Python and OpenAPI.
    pub(crate) raw: Value,
    pub(crate) default_alias: String,
    pub(crate) registry: BTreeMap<String, ModelEntry>,
    pub(crate) program_models: BTreeMap<String, String>,
    /// `server:`, each key typed (checked when read, with messages naming the key).
    pub(crate) server: ServerSection,
    /// One line per key of the file this version does not read (logged at start-up).
    pub(crate) unknown_keys: Vec<String>,
    /// Variables `.env` added to the process environment. Python keeps its own copy of the
    /// environment (`os.environ`), so the engine hands these over too.
    pub(crate) dotenv: Vec<(String, String)>,
}

/// Set the variables of `<dir>/.env` that are not set yet (as [`ProjectConfig::load`] does
/// first); returns those it set.
pub(crate) fn preload_dotenv(dir: &Path) -> Vec<(String, String)> {
    dotenv::load_into_process(&dir.join(".env"))
}

impl ProjectConfig {
    /// Load `dspy.config.yaml` from `path`, reading `.env` beside it first.
    pub(crate) fn load(path: &Path) -> Result<Self, ConfigError> {
        if !path.exists() {
            return Err(ConfigError::NotFound(path.to_path_buf()));
        }
        let dotenv = path
            .parent()
            .map(|dir| dotenv::load_into_process(&dir.join(".env")))
            .unwrap_or_default();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Parse(e.to_string()))?;
        let config = Self::from_yaml(&text, &|name| std::env::var(name).ok()).map_err(|err| match err {
            // The YAML error has the line; say which file and what usually fixes it.
            ConfigError::Parse(message) => ConfigError::Parse(format!(
                "{message} (in {}). Check the YAML there: values containing ': ', ' #' or starting with \
                 '?', '*', '&', '!' or '@' must be quoted.",
                path.display()
            )),
            other => other,
        })?;
        Ok(Self { dotenv, ..config })
    }

    /// Parse and validate a config document; `env` resolves environment variables.
    pub(crate) fn from_yaml(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let yaml: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        let mut raw = serde_json::to_value(&yaml).map_err(|e| ConfigError::Parse(e.to_string()))?;
        if is_falsy(&raw) {
            return Err(ConfigError::Empty);
        }
        interpolate::interpolate_env(&mut raw, env)?;
        let models = raw.get("models").ok_or(ConfigError::NoModels)?;
        let default_alias = match models.get("default") {
            None => return Err(ConfigError::NoDefault),
            Some(v) => scalar_string(v).ok_or_else(|| invalid("'models.default' must be a model alias (a string)"))?,
        };
        let registry_value = models.get("registry").ok_or(ConfigError::NoRegistry)?;
        let registry = parse_registry(registry_value, env)?;
        let program_models = parse_program_models(raw.get("program_models"))?;
        let server = schema::server_section(&raw);
        let unknown_keys = schema::unknown_keys(&raw, &server);
        Ok(Self {
            raw,
            default_alias,
            registry,
            program_models,
            server,
            unknown_keys,
            dotenv: Vec::new(),
        })
    }

    /// Every alias used (the default and `program_models`) exists in the registry. Checked
    /// after loading, as upstream does when it builds the app.
    pub(crate) fn validate_aliases(&self) -> Result<(), ConfigError> {
        self.entry(&self.default_alias)?;
        self.program_models
            .values()
            .try_for_each(|alias| self.entry(alias).map(|_| ()))
    }

    /// Look up a registry entry by alias, with upstream's error when it is missing.
    pub(crate) fn entry(&self, alias: &str) -> Result<&ModelEntry, ConfigError> {
        self.registry.get(alias).ok_or_else(|| ConfigError::UnknownAlias {
            alias: alias.to_owned(),
            available: self.registry.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }
}

fn is_falsy(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
    }
}

fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn parse_registry(
    value: &Value,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, ModelEntry>, ConfigError> {
    let map = value
        .as_object()
        .ok_or_else(|| invalid("'models.registry' must map model aliases to settings"))?;
    let mut registry = BTreeMap::new();
    for (alias, entry) in map {
        let mut settings = entry.as_object().cloned().ok_or_else(|| {
            invalid(&format!(
                "'models.registry.{alias}' must be a mapping with at least 'model'"
            ))
        })?;
        if !settings.get("model").is_some_and(Value::is_string) {
            return Err(invalid(&format!(
                "'models.registry.{alias}.model' must be a LiteLLM model string"
            )));
        }
        // `env: NAME` wins over a literal api_key when NAME is set (upstream behaviour).
        if let Some(var) = settings.get("env").and_then(Value::as_str)
            && let Some(key) = env(var).filter(|k| !k.is_empty())
        {
            settings.insert("api_key".into(), Value::String(key));
        }
        registry.insert(
            alias.clone(),
            ModelEntry {
                alias: alias.clone(),
                settings,
            },
        );
    }
    Ok(registry)
}

fn parse_program_models(value: Option<&Value>) -> Result<BTreeMap<String, String>, ConfigError> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(BTreeMap::new());
    };
    let map = value
        .as_object()
        .ok_or_else(|| invalid("'program_models' must map program names to model aliases"))?;
    map.iter()
        .map(|(program, alias)| {
            scalar_string(alias)
                .map(|a| (program.clone(), a))
                .ok_or_else(|| invalid(&format!("'program_models.{program}' must be a model alias (a string)")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<ProjectConfig, ConfigError> {
        let config = ProjectConfig::from_yaml(text, &|name| (name == "KEY").then(|| "secret".to_owned()))?;
        config.validate_aliases()?;
        Ok(config)
    }

    const VALID: &str = "models:\n  default: a\n  registry:\n    a:\n      model: openai/x\n      env: KEY\n      api_key: literal\n    b:\n      model: openai/y\nprogram_models:\n  P: b\n";

    #[test]
    fn upstream_error_messages() {
        let cases = [
            ("", "Configuration file is empty"),
            ("{}", "Configuration file is empty"),
            ("other: value", "Configuration must contain 'models' section"),
            ("models:\n  registry: {}", "Configuration must specify 'models.default'"),
            ("models:\n  default: a", "Configuration must contain 'models.registry'"),
            (
                "models:\n  default: nope\n  registry:\n    a: {model: openai/x}",
                "Model alias 'nope' not found in registry.\nAvailable models: a",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(load(text).unwrap_err().to_string(), expected, "for {text:?}");
        }
        assert!(
            load("models: [")
                .unwrap_err()
                .to_string()
                .starts_with("Failed to parse configuration file: ")
        );
    }

    #[test]
    fn env_key_overrides_literal_api_key_and_program_models_route() {
        let config = load(VALID).unwrap();
        assert_eq!(config.registry["a"].settings["api_key"], "secret");
        assert!(!config.registry["b"].settings.contains_key("api_key"));
        assert_eq!(config.program_models["P"], "b");
        assert_eq!(config.default_alias, "a");
    }

    #[test]
    fn unknown_program_model_alias_is_rejected() {
        let text = VALID.replace("P: b", "P: zzz");
        assert_eq!(
            load(&text).unwrap_err().to_string(),
            "Model alias 'zzz' not found in registry.\nAvailable models: a, b"
        );
    }

    #[test]
    fn server_numbers_are_range_checked_with_the_key_named() {
        fn error<T: std::fmt::Debug>(result: Result<T, ConfigError>) -> String {
            result.unwrap_err().to_string()
        }
        let config = load(&format!("{VALID}server:\n  max_connections: 0\n  max_body_bytes: 1e20\n  log_backups: 7\n  write_timeout_seconds: -1\n  keep_alive_timeout_seconds: 7\n  header_read_timeout_seconds: 0\n")).unwrap();
        let server = &config.server;
        assert_eq!(
            error(server.max_connections.within(1..=10)),
            "Invalid configuration: 'server.max_connections' must be a whole number from 1 to 10, got 0"
        );
        assert!(error(server.max_body_bytes.within(1..=10)).contains("'server.max_body_bytes'"));
        assert!(error(server.log_backups.within(1..=5)).contains("got 7"));
        assert_eq!(server.log_backups.within(1..=10).unwrap(), Some(7));
        assert!(error(server.write_timeout_seconds.seconds()).contains("'server.write_timeout_seconds'"));
        assert!(error(server.header_read_timeout_seconds.seconds()).contains("got 0"));
        assert_eq!(
            server.keep_alive_timeout_seconds.seconds().unwrap(),
            Some(std::time::Duration::from_secs(7))
        );
    }

    #[test]
    fn bare_server_key_is_empty() {
        let config = load(&format!("{VALID}server:\n")).unwrap();
        assert_eq!(config.server.max_concurrent_per_program.within(1..=10).unwrap(), None);
        assert!(config.unknown_keys.is_empty());
    }

    #[test]
    fn server_values_may_come_from_the_environment() {
        let config = load(&format!("{VALID}server:\n  timezone: \"${{{{ env.KEY }}}}\"\n")).unwrap();
        assert_eq!(config.server.timezone.typed().map(String::as_str), Some("secret"));
    }
}
