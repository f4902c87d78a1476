//! Every environment variable dspy-cli-rs reads, declared once (uv's `EnvVars`): clap's `env =`
//! attributes and the settings layer use these constants, and the README's tables list them.

/// Namespace of the variable names.
pub(crate) struct EnvVars;

impl EnvVars {
    /// `serve --port`.
    pub(crate) const DSPY_CLI_PORT: &'static str = "DSPY_CLI_PORT";
    /// `serve --host`.
    pub(crate) const DSPY_CLI_HOST: &'static str = "DSPY_CLI_HOST";
    /// `serve`/`cron --logs-dir`.
    pub(crate) const DSPY_CLI_LOGS_DIR: &'static str = "DSPY_CLI_LOGS_DIR";
    /// `serve --no-reload`.
    pub(crate) const DSPY_CLI_NO_RELOAD: &'static str = "DSPY_CLI_NO_RELOAD";
    /// `serve --no-save-openapi`.
    pub(crate) const DSPY_CLI_NO_SAVE_OPENAPI: &'static str = "DSPY_CLI_NO_SAVE_OPENAPI";
    /// `serve --openapi-format`.
    pub(crate) const DSPY_CLI_OPENAPI_FORMAT: &'static str = "DSPY_CLI_OPENAPI_FORMAT";
    /// `serve`/`cron --python`.
    pub(crate) const DSPY_CLI_PYTHON: &'static str = "DSPY_CLI_PYTHON";
    /// `serve`/`cron --system`.
    pub(crate) const DSPY_CLI_SYSTEM: &'static str = "DSPY_CLI_SYSTEM";
    /// `serve --auth` (true/false; `--no-auth` overrides it).
    pub(crate) const DSPY_CLI_AUTH: &'static str = "DSPY_CLI_AUTH";
    /// `serve --workers`.
    pub(crate) const DSPY_CLI_WORKERS: &'static str = "DSPY_CLI_WORKERS";
    /// `serve --max-requests-per-worker`.
    pub(crate) const DSPY_CLI_MAX_REQUESTS_PER_WORKER: &'static str = "DSPY_CLI_MAX_REQUESTS_PER_WORKER";
    /// `serve --max-rss-mb`.
    pub(crate) const DSPY_CLI_MAX_RSS_MB: &'static str = "DSPY_CLI_MAX_RSS_MB";
    /// `serve --sync-workers`.
    pub(crate) const DSPY_CLI_SYNC_WORKERS: &'static str = "DSPY_CLI_SYNC_WORKERS";
    pub(crate) const DSPY_CLI_RUNTIME_THREADS: &'static str = "DSPY_CLI_RUNTIME_THREADS";
    /// `serve --strict`.
    pub(crate) const DSPY_CLI_STRICT: &'static str = "DSPY_CLI_STRICT";
    /// `serve`/`cron --mock-lm`.
    pub(crate) const DSPY_CLI_MOCK_LM: &'static str = "DSPY_CLI_MOCK_LM";
    /// `serve`/`cron --shutdown-timeout`.
    pub(crate) const DSPY_CLI_SHUTDOWN_TIMEOUT: &'static str = "DSPY_CLI_SHUTDOWN_TIMEOUT";
    /// `serve --no-cron`.
    pub(crate) const DSPY_CLI_NO_CRON: &'static str = "DSPY_CLI_NO_CRON";
    /// The log filter (tracing's `EnvFilter` syntax; default `info`).
    pub(crate) const DSPY_CLI_LOG: &'static str = "DSPY_CLI_LOG";
    /// CORS origins; when set at all it wins over `server.cors_origins` (upstream's rule).
    pub(crate) const DSPY_CORS_ORIGINS: &'static str = "DSPY_CORS_ORIGINS";
    /// The `--auth` token (generated and printed once when unset).
    pub(crate) const DSPY_API_KEY: &'static str = "DSPY_API_KEY";
}
