//! Arguments and flags. `///` comments are the `--help` text.

use std::ops::RangeInclusive;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::EnvVars;

/// dspy-cli: A CLI tool for creating and serving DSPy projects.
///
/// dspy-cli provides convention-based scaffolding and serving for DSPy applications.
#[derive(Debug, Parser)]
#[command(
    name = "dspy-cli",
    version = env!("CARGO_PKG_VERSION"),
    disable_version_flag = true,
    disable_help_subcommand = true,
    override_usage = "dspy-cli [OPTIONS] COMMAND [ARGS]..."
)]
pub(crate) struct Args {
    /// Show the version and exit.
    #[arg(long = "version", action = clap::ArgAction::Version)]
    version: Option<bool>,
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    #[command(
        about = "Create a new DSPy project with boilerplate structure.",
        long_about = NEW_LONG_HELP
    )]
    New(NewArgs),
    #[command(
        about = "Generate new components in an existing DSPy project.",
        long_about = GENERATE_LONG_HELP,
        alias = "g",
        arg_required_else_help = true,
        disable_help_subcommand = true
    )]
    Generate(GenerateArgs),
    /// Start an HTTP API server that exposes your DSPy programs.
    #[command(alias = "s")]
    Serve(ServeArgs),
    /// Run an OpenAI-compatible mock LM server (for tests, demos and benchmarks).
    MockLm(MockLmArgs),
    /// List the project's cron gateways, or run one of them now.
    #[command(arg_required_else_help = true)]
    Cron(CronArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct CronArgs {
    #[command(subcommand)]
    pub(crate) command: CronCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CronCommand {
    /// List every cron gateway with its schedule and next run time.
    List(CronOptions),
    /// Run one cron gateway once, now, then exit: 0 when every item succeeded, 1 otherwise.
    ///
    /// JOB is `Program` (all of its cron gateways) or `Program.Gateway`. For cluster
    /// schedulers (Kubernetes CronJob, systemd timers) together with `serve --no-cron`.
    Run {
        /// `Program` or `Program.Gateway`
        job: String,
        #[command(flatten)]
        options: CronOptions,
    },
}

/// The `serve` options that matter for loading a project without serving it.
#[derive(Debug, clap::Args)]
pub(crate) struct CronOptions {
    /// Directory for logs (default: ./logs)
    #[arg(long, env = EnvVars::DSPY_CLI_LOGS_DIR)]
    pub(crate) logs_dir: Option<PathBuf>,
    /// Path to Python interpreter to use (default: auto-detect)
    #[arg(long, value_name = "FILE", value_parser = existing_file, env = EnvVars::DSPY_CLI_PYTHON)]
    pub(crate) python: Option<PathBuf>,
    /// Use system Python environment instead of project venv
    #[arg(long, env = EnvVars::DSPY_CLI_SYSTEM)]
    pub(crate) system: bool,
    /// Point every program's LM at a built-in mock LM (fake answers; for demos and tests)
    #[arg(long, env = EnvVars::DSPY_CLI_MOCK_LM)]
    pub(crate) mock_lm: bool,
    /// Seconds a run may take after SIGTERM/Ctrl+C before it is cancelled (default: 30)
    #[arg(long, default_value = "30", env = EnvVars::DSPY_CLI_SHUTDOWN_TIMEOUT)]
    pub(crate) shutdown_timeout: f64,
}

/// A flag value clap refuses, in click's wording (`Invalid value for '--port': <this>`).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ArgError {
    /// Click's `{value!r} is not a valid <type name>.`
    #[error("{} is not a valid {type_name}.", crate::scaffold::signature::repr_str(.value))]
    NotANumber { value: String, type_name: &'static str },
    #[error("{value} is not in the range {range}.")]
    OutOfRange { value: String, range: &'static str },
    #[error("'{0}' is not one of 'json', 'yaml'.")]
    NotAFormat(String),
    #[error("File '{0}' is a directory.")]
    IsADirectory(String),
    #[error("File '{0}' does not exist.")]
    NoSuchFile(String),
    #[error("DSPY_CLI_AUTH must be true or false, got '{0}'")]
    AuthNotABoolean(String),
}

fn not_a_number(value: &str, type_name: &'static str) -> ArgError {
    ArgError::NotANumber {
        value: value.to_owned(),
        type_name,
    }
}

fn out_of_range(value: impl std::fmt::Display, range: &'static str) -> ArgError {
    ArgError::OutOfRange {
        value: value.to_string(),
        range,
    }
}

fn port_in_range(value: &str) -> Result<u16, ArgError> {
    let port: i64 = value.parse().map_err(|_| not_a_number(value, "integer range"))?;
    u16::try_from(port)
        .ok()
        .filter(|p| *p >= 1)
        .ok_or_else(|| out_of_range(port, "1<=x<=65535"))
}

/// Worker processes: 0 (one per core) up to 64 (each is a whole interpreter).
/// A whole number within `allowed`, refused as click's `IntRange` would (`range` is its text).
fn count_in(value: &str, allowed: RangeInclusive<usize>, range: &'static str) -> Result<usize, ArgError> {
    let count: i64 = value.parse().map_err(|_| not_a_number(value, "integer range"))?;
    usize::try_from(count)
        .ok()
        .filter(|c| allowed.contains(c))
        .ok_or_else(|| out_of_range(count, range))
}

fn workers_in_range(value: &str) -> Result<usize, ArgError> {
    count_in(value, 0..=64, "0<=x<=64")
}

fn sync_workers_in_range(value: &str) -> Result<usize, ArgError> {
    count_in(value, 1..=200, "1<=x<=200")
}

fn runtime_threads_in_range(value: &str) -> Result<usize, ArgError> {
    count_in(value, 1..=64, "1<=x<=64")
}

/// Seconds of grace after a stop signal: 0 to one day (larger would overflow the timer).
fn shutdown_seconds_in_range(value: &str) -> Result<f64, ArgError> {
    let seconds: f64 = value.trim().parse().map_err(|_| not_a_number(value, "float"))?;
    if (0.0..=86_400.0).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(out_of_range(value, "0<=x<=86400"))
    }
}

fn openapi_format(value: &str) -> Result<String, ArgError> {
    let lower = value.to_ascii_lowercase();
    if lower == "json" || lower == "yaml" {
        Ok(lower)
    } else {
        Err(ArgError::NotAFormat(value.to_owned()))
    }
}

fn existing_file(value: &str) -> Result<PathBuf, ArgError> {
    let path = PathBuf::from(value);
    if path.is_dir() {
        Err(ArgError::IsADirectory(value.to_owned()))
    } else if !path.exists() {
        Err(ArgError::NoSuchFile(value.to_owned()))
    } else {
        Ok(path)
    }
}

/// Start an HTTP API server that exposes your DSPy programs.
///
/// Every `dspy.Module` in src/<package>/modules/ is served as POST /<ClassName>. Each flag can
/// also be set through the environment variable named beside it.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Port to run the server on (default: 8000)
    #[arg(long, default_value = "8000", hide_default_value = true, value_parser = port_in_range, env = EnvVars::DSPY_CLI_PORT, allow_negative_numbers = true)]
    pub(crate) port: u16,
    /// Host to bind to (default: 0.0.0.0)
    #[arg(long, default_value = "0.0.0.0", hide_default_value = true, env = EnvVars::DSPY_CLI_HOST)]
    pub(crate) host: String,
    /// Directory for logs (default: ./logs)
    #[arg(long, env = EnvVars::DSPY_CLI_LOGS_DIR)]
    pub(crate) logs_dir: Option<PathBuf>,
    /// Enable auto-reload on file changes (default: enabled). Use --no-reload for production.
    #[arg(long, overrides_with = "no_reload")]
    pub(crate) reload: bool,
    /// Disable auto-reload (one process when --workers is 1)
    #[arg(long, overrides_with = "reload", env = EnvVars::DSPY_CLI_NO_RELOAD)]
    pub(crate) no_reload: bool,
    /// Worker processes serving the one port (default: server.workers, else 1; 0 = one per CPU core)
    #[arg(long, value_parser = workers_in_range, env = EnvVars::DSPY_CLI_WORKERS, allow_negative_numbers = true)]
    pub(crate) workers: Option<usize>,
    /// Replace a worker gracefully after it has answered this many program calls (default: server.max_requests_per_worker, else 0 = never)
    #[arg(long, env = EnvVars::DSPY_CLI_MAX_REQUESTS_PER_WORKER)]
    pub(crate) max_requests_per_worker: Option<u64>,
    /// Replace a worker gracefully when its resident memory passes this many MB (default: server.max_rss_mb, else 0 = never)
    #[arg(long, env = EnvVars::DSPY_CLI_MAX_RSS_MB)]
    pub(crate) max_rss_mb: Option<u64>,
    /// Save OpenAPI spec to file on server start (default: enabled)
    #[arg(long, overrides_with = "no_save_openapi")]
    pub(crate) save_openapi: bool,
    /// Do not save the OpenAPI spec file
    #[arg(long, env = EnvVars::DSPY_CLI_NO_SAVE_OPENAPI)]
    pub(crate) no_save_openapi: bool,
    /// Format for OpenAPI spec file (default: json)
    #[arg(long, default_value = "json", hide_default_value = true, value_parser = openapi_format, env = EnvVars::DSPY_CLI_OPENAPI_FORMAT)]
    pub(crate) openapi_format: String,
    /// Path to Python interpreter to use (default: auto-detect)
    #[arg(long, value_name = "FILE", value_parser = existing_file, env = EnvVars::DSPY_CLI_PYTHON)]
    pub(crate) python: Option<PathBuf>,
    /// Use system Python environment instead of project venv
    #[arg(long, env = EnvVars::DSPY_CLI_SYSTEM)]
    pub(crate) system: bool,
    /// Enable Model Context Protocol server at /mcp (not yet supported by dspy-cli-rs)
    #[arg(long)]
    pub(crate) mcp: bool,
    /// Enable API authentication via DSPY_API_KEY (default: disabled)
    /// (`DSPY_CLI_AUTH` is read by [`ServeArgs::auth_enabled`]: clap lets an env-set flag
    /// conflict with `--no-auth` instead of being overridden by it.)
    #[arg(long, overrides_with = "no_auth")]
    pub(crate) auth: bool,
    /// Disable API authentication (default)
    #[arg(long)]
    pub(crate) no_auth: bool,
    /// Maximum threads for sync module execution (default: server.sync_worker_threads, else 128)
    #[arg(long, value_parser = sync_workers_in_range, env = EnvVars::DSPY_CLI_SYNC_WORKERS)]
    pub(crate) sync_workers: Option<usize>,
    /// Threads of the Rust HTTP runtime per process (default: server.runtime_threads, else 1)
    #[arg(long, value_parser = runtime_threads_in_range, env = EnvVars::DSPY_CLI_RUNTIME_THREADS)]
    pub(crate) runtime_threads: Option<usize>,
    /// Exit with status 1 if any module file fails to load (for CI and deploys)
    #[arg(long, env = EnvVars::DSPY_CLI_STRICT)]
    pub(crate) strict: bool,
    /// Point every program's LM at a built-in mock LM (fake answers; for demos and tests)
    #[arg(long, env = EnvVars::DSPY_CLI_MOCK_LM)]
    pub(crate) mock_lm: bool,
    /// Seconds to let in-flight requests finish after SIGTERM/Ctrl+C (default: 30)
    #[arg(long, default_value = "30", hide_default_value = true, value_parser = shutdown_seconds_in_range, env = EnvVars::DSPY_CLI_SHUTDOWN_TIMEOUT)]
    pub(crate) shutdown_timeout: f64,
    /// Serve HTTP without running cron gateways (run them elsewhere with `dspy-cli cron run`)
    #[arg(long, env = EnvVars::DSPY_CLI_NO_CRON)]
    pub(crate) no_cron: bool,
}

impl ServeArgs {
    /// `--auth`, else `DSPY_CLI_AUTH` unless `--no-auth` is given. `Err`: the variable holds
    /// something that is not a boolean.
    pub(crate) fn auth_enabled(&self) -> Result<bool, ArgError> {
        if self.auth || self.no_auth {
            return Ok(self.auth);
        }
        let Some(value) = std::env::var_os(EnvVars::DSPY_CLI_AUTH) else {
            return Ok(false);
        };
        match value.to_string_lossy().trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" | "" => Ok(false),
            other => Err(ArgError::AuthNotABoolean(other.to_owned())),
        }
    }

    /// Hot reload: on unless `--no-reload` (or `DSPY_CLI_NO_RELOAD`) is the last word.
    pub(crate) fn reload_enabled(&self) -> bool {
        !self.no_reload
    }

    /// The settings `cron list`/`cron run` load a project with (no HTTP server).
    pub(crate) fn for_cron(options: &CronOptions) -> Self {
        Self {
            port: 8000,
            host: "127.0.0.1".into(),
            logs_dir: options.logs_dir.clone(),
            reload: false,
            no_reload: true,
            workers: Some(1),
            max_requests_per_worker: None,
            max_rss_mb: None,
            save_openapi: false,
            no_save_openapi: true,
            openapi_format: "json".into(),
            python: options.python.clone(),
            system: options.system,
            mcp: false,
            auth: false,
            no_auth: true,
            sync_workers: None,
            runtime_threads: None,
            strict: false,
            mock_lm: options.mock_lm,
            shutdown_timeout: options.shutdown_timeout,
            no_cron: true,
        }
    }
}

// Help of the commands, verbatim from upstream. Kept out of `///`: rustdoc would take the
// indented examples for doctests, and clap would drop the summary's final period.
const NEW_LONG_HELP: &str = "Create a new DSPy project with boilerplate structure.

Creates a directory with PROJECT_NAME and sets up a complete
DSPy project structure with example code, configuration files,
and a git repository.

Interactive mode (recommended):
    dspy-cli new

Non-interactive mode:
    dspy-cli new my-project
    dspy-cli new my-project -p custom_program -m CoT
    dspy-cli new my-project -s \"post -> tags: list[str]\"
    dspy-cli new my-project -p analyzer -s \"text -> summary\" --model anthropic/claude-sonnet-4-5";

const GENERATE_LONG_HELP: &str = "Generate new components in an existing DSPy project.

Use 'g' as a shorthand alias for 'generate'.

Example:
    dspy-cli generate scaffold my_program
    dspy-cli g scaffold my_program -m CoT -s \"question -> answer\"";

const SCAFFOLD_LONG_HELP: &str = "Generate a new DSPy program with signature and module files.

Creates:
- A signature file in src/<package>/signatures/
- A module file in src/<package>/modules/

Examples:
    # Basic scaffold with default Predict module
    dspy-cli g scaffold categorizer

    # Scaffold with ChainOfThought
    dspy-cli g scaffold categorizer -m CoT

    # Scaffold with custom signature
    dspy-cli g scaffold qa -m CoT -s \"question -> answer\"

    # Complex signature with types
    dspy-cli g scaffold search -s \"query, context: list[str] -> answer, confidence: float\"";

const SIGNATURE_LONG_HELP: &str = "Generate a new DSPy signature file only.

Creates a signature file in src/<package>/signatures/ without creating a module.

Examples:
    # Create signature with default fields (question -> answer)
    dspy-cli g signature my_sig

    # Create signature with custom fields
    dspy-cli g signature categorizer -s \"post -> tags: list[str]\"

    # Complex signature with multiple inputs and outputs
    dspy-cli g signature qa -s \"context: list[str], question -> answer, confidence: float\"";

const MODULE_LONG_HELP: &str = "Generate a new DSPy module file only.

Creates a module file in src/<package>/modules/ with an inline signature.
The module uses a placeholder signature: \"question: str -> answer: str\"

Examples:
    # Create basic Predict module
    dspy-cli g module my_module

    # Create ChainOfThought module
    dspy-cli g module analyzer -m CoT

    # Create ReAct module
    dspy-cli g module agent -m ReAct";

const GATEWAY_LONG_HELP: &str = "Generate a new gateway file.

Creates a gateway file in src/<package>/gateways/ for transforming
HTTP requests/responses or scheduling background jobs.

Examples:
    # Create API gateway with default settings
    dspy-cli g gateway webhook

    # Create API gateway with custom path
    dspy-cli g gateway slack -p /webhooks/slack

    # Create public API gateway (no auth required)
    dspy-cli g gateway health --public

    # Create cron gateway for scheduled execution
    dspy-cli g gateway moderator -t cron -s \"*/5 * * * *\"";

// Option values may start with '-' (`-s "-> answer"`), as click allows.

#[derive(Debug, clap::Args)]
pub(crate) struct NewArgs {
    #[arg(value_name = "PROJECT_NAME")]
    pub(crate) project_name: Option<String>,
    /// Name of the initial program (default: my_program)
    #[arg(short = 'p', long, allow_hyphen_values = true)]
    pub(crate) program_name: Option<String>,
    /// Inline signature string (e.g., "question -> answer" or "post -> tags: list[str]")
    #[arg(short = 's', long, allow_hyphen_values = true)]
    pub(crate) signature: Option<String>,
    /// DSPy module type (Predict, ChainOfThought, ReAct, etc.)
    #[arg(short = 'm', long, allow_hyphen_values = true)]
    pub(crate) module_type: Option<String>,
    /// LiteLLM model string (e.g., anthropic/claude-sonnet-4-5, openai/gpt-4o)
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) model: Option<String>,
    /// API key for the LLM provider (will be stored in .env)
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) api_key: Option<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct GenerateArgs {
    #[command(subcommand)]
    pub(crate) command: GenerateCommand,
}

const MODULE_HELP: &str = "DSPy module type to use. Available: Predict, ChainOfThought, CoT, ProgramOfThought, PoT, ReAct, MultiChainComparison, Refine (default: Predict)";
const SIGNATURE_HELP: &str =
    "Inline signature string (e.g., \"question -> answer\" or \"context: list[str], question -> answer\")";

#[derive(Debug, Subcommand)]
pub(crate) enum GenerateCommand {
    #[command(
        about = "Generate a new DSPy program with signature and module files.",
        long_about = SCAFFOLD_LONG_HELP
    )]
    Scaffold(ScaffoldArgs),
    #[command(about = "Generate a new DSPy signature file only.", long_about = SIGNATURE_LONG_HELP)]
    Signature(SignatureArgs),
    #[command(about = "Generate a new DSPy module file only.", long_about = MODULE_LONG_HELP)]
    Module(ModuleArgs),
    #[command(about = "Generate a new gateway file.", long_about = GATEWAY_LONG_HELP)]
    Gateway(GatewayArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct ScaffoldArgs {
    #[arg(value_name = "PROGRAM_NAME")]
    pub(crate) program_name: String,
    #[arg(
        short = 'm',
        long,
        default_value = "Predict",
        hide_default_value = true,
        help = MODULE_HELP,
        allow_hyphen_values = true
    )]
    pub(crate) module: String,
    #[arg(short = 's', long, help = SIGNATURE_HELP, allow_hyphen_values = true)]
    pub(crate) signature: Option<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct SignatureArgs {
    #[arg(value_name = "PROGRAM_NAME")]
    pub(crate) program_name: String,
    #[arg(short = 's', long, help = SIGNATURE_HELP, allow_hyphen_values = true)]
    pub(crate) signature: Option<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ModuleArgs {
    #[arg(value_name = "PROGRAM_NAME")]
    pub(crate) program_name: String,
    #[arg(
        short = 'm',
        long,
        default_value = "Predict",
        hide_default_value = true,
        help = MODULE_HELP,
        allow_hyphen_values = true
    )]
    pub(crate) module: String,
}

#[derive(Debug, clap::Args)]
pub(crate) struct GatewayArgs {
    #[arg(value_name = "NAME")]
    pub(crate) name: String,
    /// Gateway type. Available: api, cron (default: api)
    #[arg(
        short = 't',
        long = "type",
        default_value = "api",
        hide_default_value = true,
        allow_hyphen_values = true
    )]
    pub(crate) gateway_type: String,
    /// Custom HTTP path for API gateway (default: /{Name})
    #[arg(short = 'p', long, allow_hyphen_values = true)]
    pub(crate) path: Option<String>,
    /// Cron schedule for cron gateway (default: hourly)
    #[arg(
        short = 's',
        long,
        default_value = "0 * * * *",
        hide_default_value = true,
        allow_hyphen_values = true
    )]
    pub(crate) schedule: String,
    /// Whether the endpoint requires authentication (default: private/requires auth)
    #[arg(long, overrides_with = "private")]
    pub(crate) public: bool,
    /// Require authentication (the default)
    #[arg(long, overrides_with = "public")]
    pub(crate) private: bool,
}

/// Run an OpenAI-compatible mock LM server.
#[derive(Debug, clap::Args)]
pub(crate) struct MockLmArgs {
    /// Port to listen on
    #[arg(long, default_value = "9999", value_parser = port_in_range)]
    pub(crate) port: u16,
    /// Host to bind to
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) host: String,
    /// Delay before each answer, in milliseconds (simulates LM latency)
    #[arg(long, default_value = "50")]
    pub(crate) delay_ms: u64,
    /// Fraction of requests (0.0-1.0) answered with HTTP 500
    #[arg(long, default_value = "0.0", value_parser = error_rate)]
    pub(crate) error_rate: f64,
}

fn error_rate(value: &str) -> Result<f64, ArgError> {
    let rate: f64 = value.parse().map_err(|_| not_a_number(value, "float range"))?;
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err(out_of_range(rate, "0.0<=x<=1.0"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validators_use_click_messages() {
        assert_eq!(
            port_in_range("0").unwrap_err().to_string(),
            "0 is not in the range 1<=x<=65535."
        );
        assert_eq!(
            port_in_range("99999").unwrap_err().to_string(),
            "99999 is not in the range 1<=x<=65535."
        );
        assert_eq!(
            sync_workers_in_range("0").unwrap_err().to_string(),
            "0 is not in the range 1<=x<=200."
        );
        assert_eq!(
            openapi_format("XML").unwrap_err().to_string(),
            "'XML' is not one of 'json', 'yaml'."
        );
        assert_eq!(openapi_format("YAML").unwrap(), "yaml");
        assert!(
            existing_file("/tmp")
                .unwrap_err()
                .to_string()
                .contains("is a directory")
        );
    }

    #[test]
    fn serve_alias_parses() {
        let args = Args::try_parse_from(["dspy-cli", "s", "--port", "9000", "--no-save-openapi"]).unwrap();
        let Some(Command::Serve(serve)) = args.command else {
            panic!("expected serve")
        };
        assert_eq!(serve.port, 9000);
        assert!(serve.no_save_openapi);
    }

    fn gateway(argv: &[&str]) -> GatewayArgs {
        let args = Args::try_parse_from(argv).unwrap();
        let Some(Command::Generate(GenerateArgs {
            command: GenerateCommand::Gateway(gateway),
        })) = args.command
        else {
            panic!("expected g gateway")
        };
        gateway
    }

    #[test]
    fn generate_alias_and_gateway_flags() {
        let g = gateway(&["dspy-cli", "g", "gateway", "hook"]);
        assert_eq!(
            (g.gateway_type.as_str(), g.schedule.as_str(), g.public),
            ("api", "0 * * * *", false)
        );
        assert!(gateway(&["dspy-cli", "generate", "gateway", "h", "--private", "--public"]).public);
        assert!(!gateway(&["dspy-cli", "g", "gateway", "h", "--public", "--private"]).public);
        let cron = gateway(&[
            "dspy-cli",
            "g",
            "gateway",
            "m",
            "-t",
            "cron",
            "-s",
            "*/5 * * * *",
            "-p",
            "/x",
        ]);
        assert_eq!(
            (cron.schedule.as_str(), cron.path.as_deref()),
            ("*/5 * * * *", Some("/x"))
        );
    }

    #[test]
    fn new_accepts_values_starting_with_a_dash() {
        let args = Args::try_parse_from(["dspy-cli", "new", "x", "-s", "-> answer", "--api-key", "-k"]).unwrap();
        let Some(Command::New(new)) = args.command else {
            panic!("expected new")
        };
        assert_eq!(new.signature.as_deref(), Some("-> answer"));
        assert_eq!(new.api_key.as_deref(), Some("-k"));
        assert_eq!(new.project_name.as_deref(), Some("x"));
    }
}
