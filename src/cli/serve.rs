//! `dspy-cli serve`: load the project, bind, serve, shut down cleanly.
//!
//! Order matters (design.md §3): the port is bound and `/health/live` answers before any user
//! module is imported; `/health/ready` turns 200 once the engine is up.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pyo3::prelude::*;
use serde_json::{Map, Value};
use tokio::sync::watch;

use super::ExitStatus;
use super::args::ServeArgs;
use super::banner::{print_banner, print_load_errors, print_programs};
use super::interpreter::{Interpreter, choose, exec_serve};
use crate::config::{Project, ProjectConfig};
use crate::engine::{EngineSettings, load_project};
use crate::mock_lm::{self, MockOptions};
use crate::server::{self, AppState, Limits, Served, ServedParts};
use crate::server_runtime::{build_runtime, shutdown_signal};
use crate::telemetry::{InferenceLog, MetricsStore, init_logging};

/// Default maximum of the sync pool: enough threads for 100+ concurrent LM calls.
const DEFAULT_SYNC_WORKERS: usize = 128;

fn abort(message: &str) -> ExitStatus {
    println!("{message}");
    eprintln!("Aborted!");
    ExitStatus::Failure
}

fn unsupported_flags(args: &ServeArgs) -> Option<&'static str> {
    if args.reload {
        Some("--reload is not supported yet by dspy-cli-rs. Restart the server after changes, or run with --no-reload.")
    } else if args.auth {
        Some(
            "--auth is not supported yet by dspy-cli-rs. Put the server behind an authenticating proxy, or run without --auth.",
        )
    } else if args.mcp {
        Some("--mcp is not supported yet by dspy-cli-rs. Run without --mcp.")
    } else {
        None
    }
}

pub(super) fn serve(py: Python<'_>, args: &ServeArgs, raw_args: &[String]) -> ExitStatus {
    if let Some(message) = unsupported_flags(args) {
        eprintln!("Error: {message}");
        return ExitStatus::Usage;
    }
    let Ok(cwd) = std::env::current_dir() else {
        return abort("Error: the current directory is not accessible");
    };
    match choose(py, args.system, args.python.as_deref(), &cwd) {
        Err(status) => return status,
        Ok(Interpreter::Exec(python)) => {
            std::io::stdout().flush().ok();
            // Everything after `dspy-cli serve`.
            return exec_serve(&python, raw_args.get(2..).unwrap_or_default());
        }
        Ok(Interpreter::InProcess) => {}
    }
    println!("Starting DSPy API server...\n");
    let project = match Project::locate(&cwd) {
        Ok(p) => p,
        Err(err) => return abort(&err.to_string()),
    };
    let config = match ProjectConfig::load(&project.config_path()) {
        Ok(c) => c,
        Err(err) => return abort(&format!("Configuration error: {err}")),
    };
    println!("✓ Configuration loaded");
    if let Err(err) = config.validate_aliases() {
        return abort(&format!("Error creating application: {err}"));
    }
    let logs_dir = args.logs_dir.as_ref().map_or_else(|| cwd.join("logs"), |d| cwd.join(d));
    if let Err(err) = std::fs::create_dir_all(&logs_dir) {
        return abort(&format!(
            "Error: cannot create the logs directory {}: {err}. Choose another with --logs-dir.",
            logs_dir.display()
        ));
    }
    let settings = match engine_settings(args, &project, &config, logs_dir) {
        Ok(s) => s,
        Err(message) => return abort(&format!("Configuration error: {message}")),
    };
    let limits = match limits(&config) {
        Ok(l) => l,
        Err(err) => return abort(&format!("Configuration error: {err}")),
    };
    init_logging();
    run(py, args, &project, settings, limits)
}

fn limits(config: &ProjectConfig) -> Result<Limits, crate::config::ConfigError> {
    let max = config
        .server_uint("max_concurrent_per_program")?
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    Ok(Limits {
        max_concurrent_per_program: max.unwrap_or(Limits::DEFAULT_MAX_CONCURRENT),
        queue_timeout: config
            .server_seconds("queue_timeout_seconds")?
            .unwrap_or(Limits::DEFAULT_QUEUE_TIMEOUT),
        request_timeout: config.server_seconds("request_timeout_seconds")?,
    })
}

fn engine_settings(
    args: &ServeArgs,
    project: &Project,
    config: &ProjectConfig,
    logs_dir: PathBuf,
) -> Result<EngineSettings, String> {
    let registry = config
        .registry
        .iter()
        .map(|(alias, entry)| (alias.clone(), Value::Object(entry.settings.clone())))
        .collect();
    let program_aliases = config
        .program_models
        .iter()
        .map(|(p, a)| (p.clone(), Value::from(a.as_str())))
        .collect();
    let configured_workers = config.server_uint("sync_worker_threads").map_err(|e| e.to_string())?;
    let sync_workers = args
        .sync_workers
        .or(configured_workers
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n > 0))
        .unwrap_or(DEFAULT_SYNC_WORKERS);
    Ok(EngineSettings {
        config: config.raw.clone(),
        registry,
        default_alias: config.default_alias.clone(),
        program_aliases,
        root: project.root.clone(),
        src_dir: project.src_dir.clone(),
        modules_dir: project.modules_dir.clone(),
        package_name: project.package_name.clone(),
        logs_dir,
        environment: config
            .dotenv
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect(),
        fresh_instance_per_request: config
            .server_bool("fresh_instance_per_request")
            .map_err(|e| e.to_string())?
            .unwrap_or(false),
        sync_workers,
    })
}

/// Send every LM to the built-in mock: OpenAI protocol, no key, no cache (fake answers must
/// never land in DSPy's disk cache, whose key ignores `api_base`).
fn point_registry_at_mock(registry: &mut Map<String, Value>, mock: SocketAddr) {
    for entry in registry.values_mut().filter_map(Value::as_object_mut) {
        let model = entry.get("model").and_then(Value::as_str).unwrap_or("mock").to_owned();
        let name = model.split_once('/').map_or(model.as_str(), |(_, rest)| rest);
        entry.insert("model".into(), Value::from(format!("openai/{name}")));
        entry.insert("model_type".into(), Value::from("chat"));
        entry.insert("api_base".into(), Value::from(format!("http://{mock}/v1")));
        entry.insert("api_key".into(), Value::from("mock-key"));
        entry.insert("cache".into(), Value::from(false));
    }
}

fn bind(runtime: &tokio::runtime::Runtime, host: &str, port: u16) -> Result<tokio::net::TcpListener, ExitStatus> {
    let address = format!("{host}:{port}");
    runtime
        .block_on(tokio::net::TcpListener::bind(&address))
        .map_err(|err| {
            let hint = if err.kind() == std::io::ErrorKind::AddrInUse {
                "Another process is using this port: stop it or choose another port with --port."
            } else {
                "Check --host and --port."
            };
            abort(&format!("Error: could not listen on {address}: {err}. {hint}"))
        })
}

fn start_mock_lm(runtime: &tokio::runtime::Runtime, registry: &mut Map<String, Value>) -> Result<(), ExitStatus> {
    let options = MockOptions {
        delay: Duration::from_millis(50),
        error_rate: 0.0,
    };
    let mock = runtime
        .block_on(mock_lm::spawn_local(options))
        .map_err(|err| abort(&format!("Error: could not start the built-in mock LM: {err}")))?;
    point_registry_at_mock(registry, mock);
    tracing::warn!(
        "--mock-lm: every program talks to a built-in mock LM at http://{mock}/v1. Answers are FAKE; do not use this in production."
    );
    Ok(())
}

/// Everything after configuration: runtime, listener, engine, serving, shutdown.
fn run(
    py: Python<'_>,
    args: &ServeArgs,
    project: &Project,
    mut settings: EngineSettings,
    limits: Limits,
) -> ExitStatus {
    let runtime = match build_runtime() {
        Ok(rt) => rt,
        Err(err) => return abort(&format!("Error: could not start the async runtime: {err}")),
    };
    let listener = match bind(&runtime, &args.host, args.port) {
        Ok(listener) => listener,
        Err(status) => return status,
    };
    if args.mock_lm
        && let Err(status) = start_mock_lm(&runtime, &mut settings.registry)
    {
        return status;
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let (expired_tx, expired_rx) = watch::channel(false);
    let state = AppState::new(expired_rx);
    let server = runtime.spawn(server::serve(
        listener,
        server::router(state.clone()),
        wait_for(stop_rx.clone()),
    ));
    let shutdown_timeout = Duration::from_secs_f64(args.shutdown_timeout.max(0.0));
    let signals = runtime.spawn(watch_signals(stop_tx.clone(), expired_tx, shutdown_timeout));

    let metrics = Arc::new(MetricsStore::default());
    let (log, log_thread) = InferenceLog::start(settings.logs_dir.clone(), metrics.clone());
    let loaded = match load_project(py, &settings, log.clone()) {
        Ok(loaded) => loaded,
        Err(err) => {
            stop_tx.send(true).ok();
            py.detach(|| drop(runtime));
            return abort(&format!("Error creating application: {err}"));
        }
    };
    print_programs(&loaded.programs, &loaded.engine.routes, &project.package_name);
    print_load_errors(&loaded.load_errors);
    let failures = loaded.load_errors.as_array().map_or(0, Vec::len);
    if args.strict && failures > 0 {
        stop_tx.send(true).ok();
        py.detach(|| drop(runtime));
        return abort(&format!(
            "Error: --strict: {failures} start-up error(s), listed above under \"Failed to load\". Fix them, or serve without --strict."
        ));
    }
    if !args.no_save_openapi {
        let file = format!("openapi.{}", args.openapi_format);
        match loaded.save_openapi(py, &project.root.join(&file).to_string_lossy(), &args.openapi_format) {
            Ok(()) => println!("✓ OpenAPI spec saved: {file}\n"),
            Err(err) => println!("Warning: Could not save OpenAPI spec: {err}"),
        }
    }
    print_effective_settings(args, &settings, &limits);
    print_banner(&args.host, args.port);
    std::io::stdout().flush().ok();

    let (engine, rest) = loaded.split();
    metrics.seed_from_logs(&settings.logs_dir, &rest.program_names());
    let engine = Arc::new(engine);
    let parts = ServedParts {
        programs: rest.programs.clone(),
        load_errors: rest.load_errors.clone(),
        openapi: rest.openapi.clone(),
        limits,
        metrics,
        log: log.clone(),
        logs_dir: settings.logs_dir.clone(),
    };
    state.set_served(Served::new(engine.clone(), parts));
    let served_ok = py.detach(|| runtime.block_on(server));
    signals.abort();
    // Drop the HTTP side's references (handlers are finished) before stopping the engine.
    drop(state);
    py.detach(|| stop_engine(engine, &log, runtime));
    rest.shutdown_gateways(py);
    drop(log_thread);
    let error = match served_ok {
        Ok(Ok(())) => {
            println!("\nServer stopped");
            return ExitStatus::Success;
        }
        Ok(Err(err)) => err.to_string(),
        Err(err) => err.to_string(),
    };
    println!("\nServer error: {error}");
    ExitStatus::Failure
}

/// Stop the Python threads, flush the inference log, drop the runtime. Runs detached.
fn stop_engine(engine: Arc<crate::engine::Engine>, log: &InferenceLog, runtime: tokio::runtime::Runtime) {
    match Arc::try_unwrap(engine) {
        Ok(engine) => engine.shutdown(Duration::from_secs(5)),
        Err(_) => tracing::warn!("requests still hold the engine at shutdown; not waiting for them"),
    }
    log.flush(Duration::from_secs(5));
    drop(runtime);
}

async fn wait_for(mut stop: watch::Receiver<bool>) {
    stop.wait_for(|stopping| *stopping).await.ok();
}

/// First signal: stop accepting and let in-flight requests finish; after `timeout` they get a
/// 503. Second signal: exit at once.
async fn watch_signals(stop: watch::Sender<bool>, expired: watch::Sender<bool>, timeout: Duration) {
    shutdown_signal().await;
    tracing::info!(
        "Shutting down: finishing in-flight requests for up to {}s (press Ctrl+C again to exit immediately)",
        timeout.as_secs_f64()
    );
    stop.send(true).ok();
    tokio::spawn(async move {
        tokio::time::sleep(timeout).await;
        expired.send(true).ok();
    });
    shutdown_signal().await;
    eprintln!("Second signal received: exiting without waiting for in-flight requests.");
    #[expect(clippy::exit, reason = "a second Ctrl+C must stop the process at once")]
    std::process::exit(130);
}

fn print_effective_settings(args: &ServeArgs, settings: &EngineSettings, limits: &Limits) {
    println!("Settings:");
    println!(
        "  max concurrent requests per program: {}",
        limits.max_concurrent_per_program
    );
    println!("  queue timeout: {}s", limits.queue_timeout.as_secs_f64());
    match limits.request_timeout {
        Some(t) => println!("  request timeout: {}s", t.as_secs_f64()),
        None => println!("  request timeout: off"),
    }
    println!("  logs: {}", settings.logs_dir.display());
    println!("  sync worker threads (max): {}", settings.sync_workers);
    println!("  fresh instance per request: {}", settings.fresh_instance_per_request);
    println!("  shutdown timeout: {}s", args.shutdown_timeout);
    println!("  hot reload: disabled\n");
}
