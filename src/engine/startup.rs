//! Loading the project on the main thread: calls `_runtime.host.load` and builds the engine.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::Value;

use super::async_loop::{AsyncLoop, LoopHooks};
use super::bridge::{ProgramBridge, ProgramRunner};
use super::outcome::describe_error;
use super::sync_pool::SyncPool;
use super::{Engine, RouteInfo, RouteKind};
use crate::telemetry::InferenceLog;

/// A cron gateway of a program, as `_runtime.cron.CronJob.describe()` reports it.
#[derive(Debug, Clone, serde::Deserialize)]
pub(crate) struct CronJobInfo {
    pub(crate) program: String,
    pub(crate) gateway: String,
    pub(crate) schedule: String,
    pub(crate) use_batch: bool,
    pub(crate) num_threads: Option<u64>,
}

impl CronJobInfo {
    /// `Program.Gateway`, the job's name in logs, metrics and `dspy-cli cron run`.
    pub(crate) fn name(&self) -> String {
        format!("{}.{}", self.program, self.gateway)
    }
}

/// What start-up needs from outside the engine to let Python run programs through it.
pub(crate) struct RunnerHooks {
    pub(crate) runner: Arc<dyn ProgramRunner>,
    pub(crate) runtime: tokio::runtime::Handle,
}

/// What the Python side needs to load a project (sent as JSON).
#[derive(Debug, serde::Serialize)]
pub(crate) struct EngineSettings {
    pub(crate) config: Value,
    pub(crate) registry: serde_json::Map<String, Value>,
    pub(crate) default_alias: String,
    pub(crate) program_aliases: serde_json::Map<String, Value>,
    pub(crate) root: PathBuf,
    pub(crate) src_dir: PathBuf,
    pub(crate) modules_dir: PathBuf,
    pub(crate) package_name: String,
    pub(crate) logs_dir: PathBuf,
    /// Variables from `.env` to add to Python's `os.environ`.
    pub(crate) environment: serde_json::Map<String, Value>,
    pub(crate) fresh_instance_per_request: bool,
    #[serde(skip)]
    pub(crate) sync_workers: usize,
    /// Size caps of the images saved under `logs/img`.
    pub(crate) log_images: ImageCaps,
    /// `--mock-lm`: switch off the model-metadata and cost-map downloads of DSPy and LiteLLM.
    pub(crate) offline: bool,
}

/// `server.log_image_max_bytes` and `server.log_images_max_total_bytes`.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub(crate) struct ImageCaps {
    pub(crate) max_bytes: u64,
    pub(crate) max_total_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct LoadError(pub(crate) String);

/// A loaded project: the engine plus what the HTTP layer serves as-is.
pub(crate) struct LoadedProject {
    pub(crate) engine: Engine,
    pub(crate) programs: Value,
    /// Module files that failed to import and classes that failed to instantiate:
    /// `[{"file", "line", "error", "program"}]`.
    pub(crate) load_errors: Value,
    pub(crate) openapi: String,
    /// Program name → what of it is not served, and why (printed at start-up).
    pub(crate) notes: Value,
    host: Py<PyModule>,
    gateways: Py<PyAny>,
}

/// The part of a loaded project that stays on the main thread once the engine is shared.
pub(crate) struct ProjectHandles {
    pub(crate) programs: Value,
    pub(crate) load_errors: Value,
    pub(crate) openapi: String,
    host: Py<PyModule>,
    gateways: Py<PyAny>,
}

impl ProjectHandles {
    /// Discovered programs, in discovery order.
    pub(crate) fn program_names(&self) -> Vec<String> {
        self.programs
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect()
    }

    /// Run the gateways' `shutdown()` hooks (after the engine has stopped).
    pub(crate) fn shutdown_gateways(self, py: Python<'_>) {
        if let Err(err) = self.host.call_method1(py, "shutdown_gateways", (self.gateways,)) {
            tracing::error!("Gateway shutdown error: {}", describe_error(py, &err));
        }
    }
}

impl LoadedProject {
    pub(crate) fn split(self) -> (Engine, ProjectHandles) {
        let Self {
            engine,
            programs,
            load_errors,
            openapi,
            host,
            gateways,
            ..
        } = self;
        (
            engine,
            ProjectHandles {
                programs,
                load_errors,
                openapi,
                host,
                gateways,
            },
        )
    }

    /// Save the OpenAPI document as upstream does (`json` indent 2 or `yaml`).
    pub(crate) fn save_openapi(&self, py: Python<'_>, path: &str, format: &str) -> Result<(), String> {
        self.host
            .call_method1(py, "save_openapi", (&self.openapi, path, format))
            .map(|_| ())
            .map_err(|e| e.value(py).to_string())
    }
}

fn python_error(py: Python<'_>, err: &PyErr) -> LoadError {
    // DiscoveryError messages are already user-facing; others get their type name.
    let is_discovery = err.get_type(py).name().is_ok_and(|n| n == "DiscoveryError");
    if is_discovery {
        LoadError(err.value(py).to_string())
    } else {
        LoadError(describe_error(py, err))
    }
}

fn route_info(route: &Bound<'_, PyAny>) -> PyResult<RouteInfo> {
    let module = route.getattr("module")?;
    let kind = match route.getattr("kind")?.extract::<String>()?.as_str() {
        "app" => RouteKind::GatewayApp,
        "cron" => RouteKind::Cron,
        _ => RouteKind::Http,
    };
    Ok(RouteInfo {
        kind,
        app_routes: route.getattr("app_routes")?.extract()?,
        program: route.getattr("name")?.extract::<String>()?.into(),
        path: route.getattr("path")?.extract()?,
        method: route.getattr("method")?.extract()?,
        model: route.getattr("model")?.extract::<String>()?.into(),
        is_async: module.getattr("is_async")?.extract()?,
        requires_auth: route
            .getattr("gateway")
            .and_then(|g| g.getattr("requires_auth"))
            .and_then(|v| v.extract::<bool>())
            .unwrap_or(true),
    })
}

/// Import the project's modules and start the loop thread and the sync pool.
pub(crate) fn load_project(
    py: Python<'_>,
    settings: &EngineSettings,
    log: InferenceLog,
    hooks: RunnerHooks,
) -> Result<LoadedProject, LoadError> {
    let wrap = |err: PyErr| python_error(py, &err);
    // Before dspy is imported: redacting stdout/stderr, and the offline switches it reads.
    PyModule::import(py, "dspy_cli._runtime.privacy")
        .and_then(|privacy| privacy.call_method1("install", (settings.offline,)))
        .map_err(wrap)?;
    let host = PyModule::import(py, "dspy_cli._runtime.host").map_err(wrap)?;
    let invoke = PyModule::import(py, "dspy_cli._runtime.invoke").map_err(wrap)?;
    let json = serde_json::to_string(settings).map_err(|e| LoadError(e.to_string()))?;
    let loaded = host.call_method1("load", (json,)).map_err(wrap)?;
    let loaded = loaded.cast::<PyDict>().map_err(|e| LoadError(e.to_string()))?;
    let get = |key: &str| {
        loaded
            .get_item(key)
            .ok()
            .flatten()
            .ok_or_else(|| LoadError(format!("host.load() returned no '{key}'")))
    };

    let mut infos = Vec::new();
    let mut routes = Vec::new();
    for route in get("routes")?.try_iter().map_err(wrap)? {
        let route = route.map_err(wrap)?;
        infos.push(route_info(&route).map_err(wrap)?);
        routes.push(route.unbind());
    }
    let programs_json: String = get("programs_json")?.extract().map_err(wrap)?;
    let programs = serde_json::from_str(&programs_json).map_err(|e| LoadError(e.to_string()))?;
    let load_errors_json: String = get("load_errors_json")?.extract().map_err(wrap)?;
    let load_errors = serde_json::from_str(&load_errors_json).map_err(|e| LoadError(e.to_string()))?;
    let openapi: String = get("openapi")?.extract().map_err(wrap)?;
    let notes_json: String = get("notes_json")?.extract().map_err(wrap)?;
    let notes = serde_json::from_str(&notes_json).map_err(|e| LoadError(e.to_string()))?;
    let app_paths: Vec<String> = get("app_paths")?.extract().map_err(wrap)?;
    let cron_jobs = cron_jobs(&get("cron_jobs")?).map_err(wrap)?;
    let routes = Arc::new(routes);

    // Gateway apps and cron jobs run on the loop even when every module is sync.
    let needs_loop = infos.iter().any(|r| r.is_async || r.kind != RouteKind::Http);
    let async_loop = if needs_loop {
        let loop_hooks = LoopHooks {
            run_loop: host.getattr("run_loop").map_err(wrap)?.unbind(),
            start_async: invoke.getattr("start_async").map_err(wrap)?.unbind(),
            start_asgi: PyModule::import(py, "dspy_cli._runtime.asgi")
                .and_then(|m| m.getattr("start"))
                .map_err(wrap)?
                .unbind(),
            start_cron: PyModule::import(py, "dspy_cli._runtime.cron")
                .and_then(|m| m.getattr("start"))
                .map_err(wrap)?
                .unbind(),
        };
        let async_loop = AsyncLoop::start(py, &get("loop")?, loop_hooks, routes.clone()).map_err(wrap)?;
        let bridge = ProgramBridge::new(
            hooks.runner,
            hooks.runtime,
            async_loop.handle(),
            log.clone(),
            infos.iter().map(|r| (r.program.clone(), r.model.clone())).collect(),
        );
        host.call_method1("set_bridge", (Py::new(py, bridge).map_err(wrap)?,))
            .map_err(wrap)?;
        Some(async_loop)
    } else {
        None
    };
    let run_sync = invoke.getattr("run_sync").map_err(wrap)?.unbind();
    let sync_pool = SyncPool::new(run_sync, routes, settings.sync_workers);
    let engine = Engine {
        routes: infos,
        app_paths,
        cron_jobs,
        async_loop,
        sync_pool,
        log,
    };
    Ok(LoadedProject {
        engine,
        programs,
        load_errors,
        openapi,
        notes,
        host: host.unbind(),
        gateways: get("gateways")?.unbind(),
    })
}

fn cron_jobs(list: &Bound<'_, PyAny>) -> PyResult<Vec<CronJobInfo>> {
    let json = PyModule::import(list.py(), "json")?.call_method1("dumps", (list,))?;
    serde_json::from_str(&json.extract::<String>()?)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("cron job list: {e}")))
}
