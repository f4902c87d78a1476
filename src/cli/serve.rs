//! `dspy-cli serve`: load the project, bind, serve, shut down cleanly.
//!
//! Order matters (design.md §3): the port is bound and `/health/live` answers before any user
//! module is imported; `/health/ready` turns 200 once the engine is up.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pyo3::prelude::*;
use serde_json::{Map, Value};
use tokio::sync::watch;

use super::ExitStatus;
use super::args::ServeArgs;
use super::banner::{print_banner, print_load_errors, print_programs};
use super::interpreter::{Interpreter, choose, exec_command};
use super::serve_security;
use super::serve_settings::ServeSettings;
use crate::config::{Project, ProjectConfig};
use crate::engine::{Engine, EngineSettings, LoadError, LoadedProject, ProjectHandles, RunnerHooks, load_project};
use crate::mock_lm::{self, MockOptions};
use crate::scheduler::{self, JobScheduleError, Schedule, Scheduler, Zone};
use crate::server::{self, AppState, ConnectionStats, KeySource, Served, ServedParts};
use crate::server_runtime::{build_runtime, shutdown_signal};
use crate::supervisor::{self, worker};
use crate::telemetry::{InferenceLog, MetricsStore, init_logging, redact};

pub(super) fn abort(message: &str) -> ExitStatus {
    // Start-up errors may quote an LM's api_base (and the credentials in it).
    println!("{}", redact(message));
    eprintln!("Aborted!");
    ExitStatus::Failure
}

fn unsupported_flags(args: &ServeArgs) -> Option<&'static str> {
    if args.mcp {
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
    let auth = match args.auth_enabled() {
        Ok(auth) => auth,
        Err(message) => {
            eprintln!("Error: {message}");
            return ExitStatus::Usage;
        }
    };
    if let Some(role) = worker::role()
        && role.standby
    {
        let root = std::env::current_dir()
            .ok()
            .and_then(|cwd| Project::locate(&cwd).ok())
            .map(|p| p.root);
        if !worker::stand_by(py, args.mock_lm, root.as_deref()) {
            return ExitStatus::Success;
        }
    }
    match prepare(py, args, "serve", raw_args, "Starting DSPy API server...\n") {
        // With --reload or several workers this process only supervises (src/supervisor/).
        Ok(prepared) if supervisor::worker::role().is_none() && !prepared.serve.processes.single_process() => {
            supervise(py, args, raw_args, &prepared, auth)
        }
        Ok(prepared) => run(py, args, prepared, auth),
        Err(status) => status,
    }
}

/// A project ready to load: what `serve` and `cron` share before Python imports anything.
pub(super) struct Prepared {
    pub(super) project: Project,
    /// What the engine is started with (the project, its models, some of `serve`).
    pub(super) settings: EngineSettings,
    pub(super) serve: ServeSettings,
}

/// Bind the port here and run the server in supervised worker processes.
fn supervise(py: Python<'_>, args: &ServeArgs, raw_args: &[String], prepared: &Prepared, auth: bool) -> ExitStatus {
    quiet_python_sigint(py);
    let runtime = match build_runtime(None) {
        Ok(rt) => rt,
        Err(err) => return abort(&format!("Error: could not start the async runtime: {err}")),
    };
    let listener = match bind(&runtime, &args.host, args.port).and_then(|l| {
        l.into_std().map_err(|err| {
            abort(&format!(
                "Error: could not listen on {}:{}: {err}",
                args.host, args.port
            ))
        })
    }) {
        Ok(listener) => listener,
        Err(status) => return status,
    };
    let logs_dir = prepared.serve.logs_dir.clone();
    // One token for every worker: a key generated in each would differ (and so would sessions).
    let mut shared_env = Vec::new();
    if auth && let (key, KeySource::Generated) = serve_security::api_key(&mut Vec::new()) {
        shared_env.push(("DSPY_API_KEY".to_owned(), key));
    }
    let plan = supervisor::Plan {
        processes: prepared.serve.processes,
        scope: supervisor::WatchScope {
            root: prepared.project.root.clone(),
            excluded: vec![logs_dir],
        },
        listener,
        runtime,
        args: supervisor::chosen_interpreter_args(raw_args.get(2..).unwrap_or_default()),
        shutdown_timeout: prepared.serve.shutdown_timeout,
        from_dotenv: prepared
            .settings
            .environment
            .iter()
            .map(|(key, _)| key.clone())
            .collect(),
        shared_env,
    };
    supervisor::run(py, plan)
}

/// Pick the interpreter (re-executing `dspy-cli <command>` in the project venv), then read
/// the project and its configuration.
pub(super) fn prepare(
    py: Python<'_>,
    args: &ServeArgs,
    command: &str,
    raw_args: &[String],
    greeting: &str,
) -> Result<Prepared, ExitStatus> {
    let Ok(cwd) = std::env::current_dir() else {
        return Err(abort("Error: the current directory is not accessible"));
    };
    // Outside a project that is the whole story: say it first, before any venv advice (and
    // with no "Aborted!" after it). An explicit --python is checked first: it is what was asked.
    if args.python.is_none()
        && let Err(err) = Project::locate(&cwd)
    {
        println!("{}", redact(&err.to_string()));
        return Err(ExitStatus::Failure);
    }
    match choose(py, args.system, args.python.as_deref(), &cwd)? {
        Interpreter::Exec(python) => {
            std::io::stdout().flush().ok();
            // Everything after `dspy-cli <command>`.
            return Err(exec_command(&python, command, raw_args.get(2..).unwrap_or_default()));
        }
        Interpreter::InProcess => {}
    }
    // A supervised worker's supervisor has printed these already.
    let worker = supervisor::worker::role().is_some();
    if !worker {
        println!("{greeting}");
    }
    let project = Project::locate(&cwd).map_err(|err| abort(&err.to_string()))?;
    let config =
        ProjectConfig::load(&project.config_path()).map_err(|err| abort(&format!("Configuration error: {err}")))?;
    if !worker {
        println!("✓ Configuration loaded");
    }
    if let Err(err) = config.validate_aliases() {
        return Err(abort(&format!("Error creating application: {err}")));
    }
    let serve =
        ServeSettings::resolve(args, &config, &cwd).map_err(|err| abort(&format!("Configuration error: {err}")))?;
    if let Err(err) = std::fs::create_dir_all(&serve.logs_dir) {
        return Err(abort(&format!(
            "Error: cannot create the logs directory {}: {err}. Choose another with --logs-dir.",
            serve.logs_dir.display()
        )));
    }
    let settings = engine_settings(args, &project, &config, &serve);
    init_logging();
    for warning in &config.unknown_keys {
        tracing::warn!("{warning}");
    }
    Ok(Prepared {
        project,
        settings,
        serve,
    })
}

/// Ctrl+C is handled by tokio (graceful shutdown). Python's own SIGINT handler would also fire
/// and raise `KeyboardInterrupt` in whatever Python code runs next on the main thread (the
/// gateways' shutdown, an event loop's `__del__`): switch it off before tokio installs its own.
fn quiet_python_sigint(py: Python<'_>) {
    let ignored = py
        .import("signal")
        .and_then(|signal| signal.call_method1("signal", (signal.getattr("SIGINT")?, signal.getattr("SIG_IGN")?)));
    if let Err(err) = ignored {
        tracing::debug!("could not switch off Python's SIGINT handler: {err}");
    }
}

fn engine_settings(
    args: &ServeArgs,
    project: &Project,
    config: &ProjectConfig,
    serve: &ServeSettings,
) -> EngineSettings {
    let registry = config
        .registry
        .iter()
        .map(|(alias, entry)| (alias.clone(), Value::Object(entry.settings.clone())))
        .collect();
    let program_aliases = config.program_models.clone().into_iter().collect();
    EngineSettings {
        config: config.raw.clone(),
        registry,
        default_alias: config.default_alias.clone(),
        program_aliases,
        root: project.root.clone(),
        src_dir: project.src_dir.clone(),
        modules_dir: project.modules_dir.clone(),
        package_name: project.package_name.clone(),
        logs_dir: serve.logs_dir.clone(),
        environment: config.dotenv.clone(),
        fresh_instance_per_request: serve.fresh_instance_per_request,
        sync_workers: serve.sync_workers,
        log_images: serve.data.images,
        offline: args.mock_lm,
    }
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

pub(super) fn start_mock_lm(
    runtime: &tokio::runtime::Runtime,
    registry: &mut Map<String, Value>,
) -> Result<(), ExitStatus> {
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
fn run(py: Python<'_>, args: &ServeArgs, prepared: Prepared, auth: bool) -> ExitStatus {
    let Prepared {
        project,
        mut settings,
        mut serve,
    } = prepared;
    let role = worker::role();
    // Output a supervised worker leaves to the first worker (the others would repeat it).
    let announce = role.is_none_or(|r| r.announce);
    let no_cron = !serve.cron || role.is_some_and(|r| !r.run_cron);
    quiet_python_sigint(py);
    let runtime = match build_runtime(Some(serve.runtime_threads)) {
        Ok(rt) => rt,
        Err(err) => return abort(&format!("Error: could not start the async runtime: {err}")),
    };
    let listener = match listen(&runtime, args, role) {
        Ok(listener) => listener,
        Err(status) => return status,
    };
    if args.mock_lm
        && let Err(status) = start_mock_lm(&runtime, &mut settings.registry)
    {
        return status;
    }
    let metrics = Arc::new(MetricsStore::default());
    if role.is_some() {
        worker_mode(&mut serve, &metrics);
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let (expired_tx, expired_rx) = watch::channel(false);
    let connection_stats = Arc::new(ConnectionStats::default());
    let state = AppState::new(expired_rx.clone(), connection_stats.clone());
    raise_open_file_limit(serve.connections.max_connections);
    let server = server::serve(
        (listener, role.and_then(worker::board)),
        server::router(
            state.clone(),
            &serve_security::build(auth, &serve.security, &mut settings.environment),
        ),
        serve.connections,
        connection_stats,
        stop_rx.clone(),
        expired_rx,
    );
    // A worker started while another serves (reload, recycling) accepts only once loaded.
    let (mut server, mut unstarted) = if role.is_some_and(|r| r.accept_after_load) {
        (None, Some(server))
    } else {
        (Some(runtime.spawn(server)), None)
    };
    let shutdown_timeout = serve.shutdown_timeout;
    let signals = runtime.spawn(watch_signals(stop_tx.clone(), expired_tx, shutdown_timeout));
    let (log, log_thread) = InferenceLog::start(settings.logs_dir.clone(), serve.data.rotation, metrics.clone());
    let loaded = load(py, &settings, &log, &state, &runtime, serve.zone);
    let (loaded, schedules) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => {
            stop_tx.send(true).ok();
            py.detach(|| drop(runtime));
            return abort(&error.to_string());
        }
    };
    if announce {
        print_programs(&loaded, &project.package_name, no_cron);
        print_cron_registration(&loaded, !serve.cron, serve.zone);
    }
    if let Some(message) = load_failure(args, role, print_load_errors(&loaded.project.catalog.load_errors)) {
        stop_tx.send(true).ok();
        py.detach(|| drop(runtime));
        return abort(&message);
    }
    if announce {
        announce_start(py, args, (&project, &loaded), &serve, auth);
    }
    std::io::stdout().flush().ok();

    let (engine, rest) = share(loaded, &state, &serve, metrics, &log, &settings);
    if let Some(unstarted) = unstarted.take() {
        server = Some(runtime.spawn(unstarted));
    }
    if let Some(role) = role {
        report_ready(&runtime, role, &log);
    }
    let server = server.expect("the server task is started above");
    let scheduler = (!no_cron && !schedules.is_empty()).then(|| {
        let _entered = runtime.enter();
        let served = state.served().expect("set above");
        Scheduler::start(served, schedules, &stop_rx, shutdown_timeout)
    });
    let served_ok = py.detach(|| {
        let served_ok = runtime.block_on(server);
        if let Some(scheduler) = scheduler {
            runtime.block_on(scheduler.stop());
        }
        served_ok
    });
    signals.abort();
    // Drop the HTTP side's references (handlers are finished) before stopping the engine.
    drop(state);
    py.detach(|| stop_engine(engine, &log, runtime));
    rest.shutdown_gateways(py);
    drop(log_thread);
    exit_status(served_ok, role.is_some())
}

fn exit_status(served: Result<std::io::Result<()>, tokio::task::JoinError>, worker: bool) -> ExitStatus {
    let error = match served {
        Ok(Ok(())) => {
            // A worker's supervisor says it once for all workers.
            if !worker {
                println!("\nServer stopped");
            }
            return ExitStatus::Success;
        }
        Ok(Err(err)) => err.to_string(),
        Err(err) => err.to_string(),
    };
    println!("\nServer error: {error}");
    ExitStatus::Failure
}

/// What a supervised worker does differently: 1/N of the limits, metrics read from the shared
/// log files (everyone's lines), idle connections kept briefly while it drains.
fn worker_mode(serve: &mut ServeSettings, metrics: &MetricsStore) {
    serve.share_with_workers(worker::role());
    metrics.follow_log_files();
    server::set_drain_linger(Duration::from_millis(500).min(serve.connections.keep_alive_timeout));
}

/// Tell the supervisor this worker serves, and start watching its recycling limits.
fn report_ready(runtime: &tokio::runtime::Runtime, role: &worker::WorkerRole, log: &InferenceLog) {
    let log = log.clone();
    runtime.spawn(worker::watch_limits(role.clone(), move || log.lines_written()));
    worker::report("ready");
}

/// The inherited socket of a supervised worker, else the port bound here.
fn listen(
    runtime: &tokio::runtime::Runtime,
    args: &ServeArgs,
    role: Option<&worker::WorkerRole>,
) -> Result<tokio::net::TcpListener, ExitStatus> {
    match role {
        Some(role) => runtime
            .block_on(async { worker::take_listener(role) })
            .map_err(|err| abort(&format!("Error: the worker cannot use the socket it was given: {err}"))),
        None => bind(runtime, &args.host, args.port),
    }
}

/// Why start-up stops after `failures` module files failed to load, if it does: `--strict`, or
/// a reload (which must not drop a program).
fn load_failure(args: &ServeArgs, role: Option<&worker::WorkerRole>, failures: usize) -> Option<String> {
    if failures == 0 {
        None
    } else if role.is_some_and(|r| r.strict) {
        Some(format!(
            "Error: {failures} module file(s) failed to load (listed above under \"Failed to load\")."
        ))
    } else if args.strict {
        Some(format!(
            "Error: --strict: {failures} start-up error(s), listed above under \"Failed to load\". Fix them, or serve without --strict."
        ))
    } else {
        None
    }
}

/// The start-up output after loading: OpenAPI file, settings, banner (with reload and auth).
fn announce_start(
    py: Python<'_>,
    args: &ServeArgs,
    (project, loaded): (&Project, &LoadedProject),
    serve: &ServeSettings,
    auth: bool,
) {
    if !args.no_save_openapi {
        save_openapi(py, args, &project.root, loaded);
    }
    serve.print();
    println!();
    let reload = if serve.processes.reload {
        supervisor::reload_banner(&project.root, &project.modules_dir)
    } else {
        String::new()
    };
    let auth_banner = serve_security::auth_banner(&serve.security, auth);
    print_banner(&args.host, args.port, &format!("{reload}{auth_banner}"));
}

/// Write `openapi.json` (or `.yaml`) into the project, as upstream does; a failure only warns.
fn save_openapi(py: Python<'_>, args: &ServeArgs, root: &std::path::Path, loaded: &LoadedProject) {
    let file = format!("openapi.{}", args.openapi_format);
    let path = root.join(&file);
    match loaded
        .project
        .save_openapi(py, &path.to_string_lossy(), &args.openapi_format)
    {
        Ok(()) => println!("✓ OpenAPI spec saved: {file}\n"),
        Err(err) => println!("Warning: Could not save OpenAPI spec: {err}"),
    }
}

/// Why the project could not be loaded (upstream's "Error creating application" prefix).
#[derive(Debug, thiserror::Error)]
pub(super) enum StartError {
    #[error("Error creating application: {0}")]
    Load(#[from] LoadError),
    #[error("Error creating application: {0}")]
    Schedule(#[from] JobScheduleError),
}

/// Import the project through the engine and check its cron schedules.
pub(super) fn load(
    py: Python<'_>,
    settings: &EngineSettings,
    log: &InferenceLog,
    state: &AppState,
    runtime: &tokio::runtime::Runtime,
    zone: Zone,
) -> Result<(LoadedProject, Vec<Schedule>), StartError> {
    let hooks = RunnerHooks {
        runner: Arc::new(state.downgrade()),
        runtime: runtime.handle().clone(),
    };
    let loaded = load_project(py, settings, log.clone(), hooks)?;
    match scheduler::parse_schedules(&loaded.engine.cron_jobs, zone) {
        Ok(schedules) => Ok((loaded, schedules)),
        Err(err) => {
            let engine = loaded.engine;
            py.detach(|| engine.shutdown(Duration::from_secs(1)));
            Err(err.into())
        }
    }
}

/// Hand the loaded engine to the HTTP layer (`state` answers from now on).
pub(super) fn share(
    loaded: LoadedProject,
    state: &AppState,
    serve: &ServeSettings,
    metrics: Arc<MetricsStore>,
    log: &InferenceLog,
    settings: &EngineSettings,
) -> (Arc<Engine>, ProjectHandles) {
    let LoadedProject { engine, project } = loaded;
    let names: Vec<String> = project.catalog.program_names().map(str::to_owned).collect();
    metrics.seed_from_logs(&settings.logs_dir, &names);
    let engine = Arc::new(engine);
    let parts = ServedParts {
        catalog: project.catalog.clone(),
        limits: serve.limits,
        metrics,
        log: log.clone(),
        logs_dir: settings.logs_dir.clone(),
        expose_errors: serve.data.expose_errors,
    };
    state.set_served(Served::new(engine.clone(), parts));
    (engine, project)
}

fn print_cron_registration(loaded: &LoadedProject, no_cron: bool, zone: Zone) {
    for job in &loaded.engine.cron_jobs {
        if no_cron {
            tracing::warn!(target: "dspy_cli.server.scheduler", "Cron gateway {} schedule={} not scheduled: --no-cron (run it with `dspy-cli cron run {}`)", job.name(), job.schedule, job.name());
        } else {
            tracing::info!(target: "dspy_cli.server.scheduler", "{} (time zone: {})", scheduler::registered_line(job), zone.describe());
        }
    }
}

/// Stop the Python threads, flush the inference log, drop the runtime. Runs detached.
pub(super) fn stop_engine(engine: Arc<Engine>, log: &InferenceLog, runtime: tokio::runtime::Runtime) {
    // Every request was answered by now (or cut off at the deadline and logged as such): a
    // sync job still running is not waited for long, so the process exits in time.
    if let Ok(engine) = Arc::try_unwrap(engine) {
        engine.shutdown(Duration::from_millis(500));
    } else {
        tracing::warn!("requests still hold the engine at shutdown; not waiting for them");
    }
    log.flush(Duration::from_secs(5));
    drop(runtime);
}

/// First signal: stop accepting and let in-flight requests finish; after `timeout` they get a
/// 503. Second signal: exit at once.
async fn watch_signals(stop: watch::Sender<bool>, expired: watch::Sender<bool>, timeout: Duration) {
    shutdown_signal().await;
    if worker::role().is_some() {
        // Told to drain by the supervisor (reload, recycling, shutdown): it reports for all.
        tracing::debug!(
            "draining: finishing in-flight requests for up to {}s",
            timeout.as_secs_f64()
        );
    } else {
        tracing::info!(
            "Shutting down: finishing in-flight requests for up to {}s (press Ctrl+C again to exit immediately)",
            timeout.as_secs_f64()
        );
    }
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

/// Make room for `max_connections` sockets under the open-file limit: raise the soft limit
/// toward the hard one if needed, else say how many connections fit (never silently).
fn raise_open_file_limit(max_connections: usize) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    /// Descriptors kept for Python, log files, LM connections and the runtime.
    const RESERVED: u64 = 256;
    let wanted = max_connections as u64 + RESERVED;
    let current = getrlimit(Resource::Nofile);
    let soft = current.current.unwrap_or(u64::MAX);
    if soft >= wanted {
        return;
    }
    let raised = current.maximum.map_or(wanted, |hard| hard.min(wanted));
    let new = rustix::process::Rlimit {
        current: Some(raised),
        maximum: current.maximum,
    };
    let soft = if raised > soft && setrlimit(Resource::Nofile, new).is_ok() {
        raised
    } else {
        soft
    };
    if soft < wanted {
        tracing::warn!(
            "The open-file limit ({soft}) leaves room for about {} of server.max_connections = {} connections; past that, new connections wait until descriptors free up. Raise it with `ulimit -n`.",
            soft.saturating_sub(RESERVED),
            max_connections
        );
    }
}
