//! Loading the project on the main thread: calls `_runtime.host.load` and builds the engine.

use std::sync::Arc;

use std::collections::HashMap;

use pyo3::prelude::*;

use super::async_loop::{AsyncLoop, LoopHooks};
use super::bridge::{ProgramBridge, ProgramRunner};
use super::convert::{EngineSettings, LoadFailure, LoadedFromPy, ProgramInfo, RouteFields};
use super::outcome::describe_error;
use super::sync_pool::SyncPool;
use super::{Engine, RouteInfo, RouteKind};
use crate::telemetry::InferenceLog;

/// What start-up needs from outside the engine to let Python run programs through it.
pub(crate) struct RunnerHooks {
    pub(crate) runner: Arc<dyn ProgramRunner>,
    pub(crate) runtime: tokio::runtime::Handle,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct LoadError(pub(crate) String);

/// What the HTTP layer serves as-is: plain data, shared by `/programs`, `/health/ready` and
/// `/openapi.json`.
#[derive(Debug, Clone)]
pub(crate) struct Catalog {
    /// Discovered programs, in discovery order (cron-only ones included).
    pub(crate) programs: Vec<ProgramInfo>,
    /// Module files that failed to import and classes that failed to instantiate.
    pub(crate) load_errors: Vec<LoadFailure>,
    pub(crate) openapi: String,
}

impl Catalog {
    pub(crate) fn program_names(&self) -> impl Iterator<Item = &str> {
        self.programs.iter().map(|p| p.name.as_str())
    }
}

/// A loaded project: the engine (shared with the HTTP layer once started) and the rest.
pub(crate) struct LoadedProject {
    pub(crate) engine: Engine,
    pub(crate) project: ProjectHandles,
}

/// The part of a loaded project that stays on the main thread once the engine is shared.
pub(crate) struct ProjectHandles {
    pub(crate) catalog: Catalog,
    /// Program name → what of it is not served, and why (printed at start-up).
    pub(crate) notes: HashMap<String, Vec<String>>,
    host: Py<PyModule>,
    gateways: Py<PyAny>,
}

impl ProjectHandles {
    /// Run the gateways' `shutdown()` hooks (after the engine has stopped).
    pub(crate) fn shutdown_gateways(self, py: Python<'_>) {
        if let Err(err) = self.host.call_method1(py, "shutdown_gateways", (self.gateways,)) {
            tracing::error!("Gateway shutdown error: {}", describe_error(py, &err));
        }
    }

    /// Save the OpenAPI document as upstream does (`json` indent 2 or `yaml`).
    pub(crate) fn save_openapi(&self, py: Python<'_>, path: &str, format: &str) -> Result<(), LoadError> {
        self.host
            .call_method1(py, "save_openapi", (&self.catalog.openapi, path, format))
            .map(|_| ())
            .map_err(|e| LoadError(e.value(py).to_string()))
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
    let fields: RouteFields = route.extract()?;
    Ok(RouteInfo {
        kind: fields.kind,
        app_routes: fields.app_routes,
        program: fields.name.into(),
        path: fields.path,
        method: fields.method,
        model: fields.model.into(),
        is_async: fields.is_async,
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
    let types = PyModule::import(py, "dspy_cli._runtime.types").map_err(wrap)?;
    let settings_py = settings.to_py(&types).map_err(wrap)?;
    let loaded = host.call_method1("load", (settings_py,)).map_err(wrap)?;
    let loaded: LoadedFromPy<'_> = loaded.extract().map_err(wrap)?;

    let mut infos = Vec::new();
    let mut routes = Vec::new();
    for route in loaded.routes {
        infos.push(route_info(&route).map_err(wrap)?);
        routes.push(route.unbind());
    }
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
        let async_loop = AsyncLoop::start(py, &loaded.event_loop, loop_hooks, routes.clone()).map_err(wrap)?;
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
        app_paths: loaded.app_paths,
        cron_jobs: loaded.cron_jobs,
        async_loop,
        sync_pool,
        log,
    };
    let catalog = Catalog {
        programs: loaded.programs,
        load_errors: loaded.load_errors,
        openapi: loaded.openapi,
    };
    Ok(LoadedProject {
        engine,
        project: ProjectHandles {
            catalog,
            notes: loaded.notes,
            host: host.unbind(),
            gateways: loaded.gateways.unbind(),
        },
    })
}
