//! Loading the project on the main thread: calls `_runtime.host.load` and builds the engine.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::Value;

use super::async_loop::AsyncLoop;
use super::outcome::describe_error;
use super::sync_pool::SyncPool;
use super::{Engine, RouteInfo};
use crate::telemetry::InferenceLog;

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
    Ok(RouteInfo {
        program: route.getattr("name")?.extract::<String>()?.into(),
        path: route.getattr("path")?.extract()?,
        method: route.getattr("method")?.extract()?,
        model: route.getattr("model")?.extract::<String>()?.into(),
        is_async: module.getattr("is_async")?.extract()?,
    })
}

/// Import the project's modules and start the loop thread and the sync pool.
pub(crate) fn load_project(
    py: Python<'_>,
    settings: &EngineSettings,
    log: InferenceLog,
) -> Result<LoadedProject, LoadError> {
    let wrap = |err: PyErr| python_error(py, &err);
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
    let routes = Arc::new(routes);

    let async_loop = if infos.iter().any(|r| r.is_async) {
        let run_loop = host.getattr("run_loop").map_err(wrap)?.unbind();
        let start_async = invoke.getattr("start_async").map_err(wrap)?.unbind();
        Some(AsyncLoop::start(py, &get("loop")?, run_loop, start_async, routes.clone()).map_err(wrap)?)
    } else {
        None
    };
    let run_sync = invoke.getattr("run_sync").map_err(wrap)?.unbind();
    let sync_pool = SyncPool::new(run_sync, routes, settings.sync_workers);
    let engine = Engine {
        routes: infos,
        async_loop,
        sync_pool,
        log,
    };
    Ok(LoadedProject {
        engine,
        programs,
        load_errors,
        openapi,
        host: host.unbind(),
        gateways: get("gateways")?.unbind(),
    })
}
