//! The Rust <-> Python boundary: every shape that crosses it, in one place.
//!
//! Each type here has a twin of the same name in `dspy_cli/_runtime/types.py`; fields are read
//! by attribute (`#[derive(FromPyObject)]`), so a renamed field fails loudly at the first call
//! instead of silently reading the wrong slot. No JSON strings or string-keyed dicts cross.

use std::collections::HashMap;
use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::Value;

use super::RouteKind;

/// How FastAPI would read the body: JSON, some other content type (raw bytes), or nothing.
/// Sent as its integer value; `types.BodyKind` has the same values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    Json = 0,
    Other = 1,
    Empty = 2,
}

impl BodyKind {
    pub(crate) fn code(self) -> u8 {
        self as u8
    }
}

/// `types.LogParts`: what the inference log line of a request needs from Python.
#[derive(Debug, FromPyObject)]
pub(crate) struct LogParts {
    pub(crate) inputs: Vec<u8>,
    pub(crate) outputs: Vec<u8>,
    pub(crate) error: Option<String>,
    pub(crate) usage: Option<Vec<u8>>,
}

/// `types.Outcome`: what every entry point of `_runtime.invoke` returns (it never raises).
/// `log` is None for requests that never reached the module (422, 404-like rejections).
#[derive(Debug, FromPyObject)]
pub(crate) struct Outcome {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    pub(crate) log: Option<LogParts>,
}

/// `types.ProgramInfo`: one discovered program, as `GET /programs` lists it.
#[derive(Debug, Clone, FromPyObject, serde::Serialize)]
pub(crate) struct ProgramInfo {
    pub(crate) name: String,
    pub(crate) model: String,
    pub(crate) endpoint: String,
}

/// `discovery.LoadFailure`: a module file that failed to import, or a class that failed to
/// instantiate (`program` set), as `/health/ready` reports it.
#[derive(Debug, Clone, FromPyObject, serde::Serialize)]
pub(crate) struct LoadFailure {
    pub(crate) file: String,
    pub(crate) line: Option<u64>,
    pub(crate) error: String,
    pub(crate) program: Option<String>,
}

/// `types.CronJobInfo`: a cron gateway of a program.
#[derive(Debug, Clone, FromPyObject)]
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

impl<'py> FromPyObject<'_, 'py> for RouteKind {
    type Error = PyErr;

    fn extract(obj: Borrowed<'_, 'py, PyAny>) -> PyResult<Self> {
        // `types.RouteKind` is a `str` enum: its value is the text.
        match obj.extract::<String>()?.as_str() {
            "http" => Ok(Self::Http),
            "app" => Ok(Self::GatewayApp),
            "cron" => Ok(Self::Cron),
            other => Err(PyValueError::new_err(format!("unknown route kind {other:?}"))),
        }
    }
}

/// The plain-data part of `types.Route` (the Python object itself stays with the engine).
#[derive(Debug, FromPyObject)]
pub(crate) struct RouteFields {
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) method: String,
    pub(crate) model: String,
    pub(crate) kind: RouteKind,
    pub(crate) is_async: bool,
    pub(crate) app_routes: Vec<String>,
}

/// `types.Loaded`: what `host.load` returns.
#[derive(FromPyObject)]
pub(crate) struct LoadedFromPy<'py> {
    pub(crate) routes: Vec<Bound<'py, PyAny>>,
    pub(crate) programs: Vec<ProgramInfo>,
    pub(crate) load_errors: Vec<LoadFailure>,
    pub(crate) openapi: String,
    #[pyo3(attribute("loop"))]
    pub(crate) event_loop: Bound<'py, PyAny>,
    pub(crate) gateways: Bound<'py, PyAny>,
    pub(crate) app_paths: Vec<String>,
    pub(crate) cron_jobs: Vec<CronJobInfo>,
    /// Program name → what of it is not served, and why (printed at start-up).
    pub(crate) notes: HashMap<String, Vec<String>>,
}

/// `server.log_image_max_bytes` and `server.log_images_max_total_bytes`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ImageCaps {
    pub(crate) max_bytes: u64,
    pub(crate) max_total_bytes: u64,
}

/// `types.EngineSettings`: what the Python side needs to load a project.
#[derive(Debug)]
pub(crate) struct EngineSettings {
    /// `dspy.config.yaml` as read (the OpenAPI builder reads its `app_id` and models).
    pub(crate) config: Value,
    /// Model alias → its settings (`model`, `temperature`, ...).
    pub(crate) registry: serde_json::Map<String, Value>,
    pub(crate) default_alias: String,
    /// Program name → model alias.
    pub(crate) program_aliases: HashMap<String, String>,
    pub(crate) root: PathBuf,
    pub(crate) src_dir: PathBuf,
    pub(crate) modules_dir: PathBuf,
    pub(crate) package_name: String,
    pub(crate) logs_dir: PathBuf,
    /// Variables from `.env` to add to Python's `os.environ`.
    pub(crate) environment: Vec<(String, String)>,
    pub(crate) fresh_instance_per_request: bool,
    /// Threads of the sync pool (Rust only).
    pub(crate) sync_workers: usize,
    /// Size caps of the images saved under `logs/img`.
    pub(crate) log_images: ImageCaps,
    /// `--mock-lm`: switch off the model-metadata and cost-map downloads of DSPy and LiteLLM.
    pub(crate) offline: bool,
}

impl EngineSettings {
    /// Build `types.EngineSettings(...)` (a frozen dataclass) from these settings.
    pub(crate) fn to_py<'py>(&self, types: &Bound<'py, PyModule>) -> PyResult<Bound<'py, PyAny>> {
        let py = types.py();
        let caps = types
            .getattr("ImageCaps")?
            .call1((self.log_images.max_bytes, self.log_images.max_total_bytes))?;
        let registry = PyDict::new(py);
        for (alias, entry) in &self.registry {
            registry.set_item(alias, json_into_py(py, entry)?)?;
        }
        let kwargs = PyDict::new(py);
        kwargs.set_item("config", json_into_py(py, &self.config)?)?;
        kwargs.set_item("registry", registry)?;
        kwargs.set_item("default_alias", &self.default_alias)?;
        kwargs.set_item("program_aliases", self.program_aliases.clone())?;
        kwargs.set_item("root", &self.root)?;
        kwargs.set_item("src_dir", &self.src_dir)?;
        kwargs.set_item("modules_dir", &self.modules_dir)?;
        kwargs.set_item("package_name", &self.package_name)?;
        kwargs.set_item("logs_dir", &self.logs_dir)?;
        kwargs.set_item(
            "environment",
            self.environment.iter().cloned().collect::<HashMap<_, _>>(),
        )?;
        kwargs.set_item("fresh_instance_per_request", self.fresh_instance_per_request)?;
        kwargs.set_item("log_images", caps)?;
        kwargs.set_item("offline", self.offline)?;
        types.getattr("EngineSettings")?.call((), Some(&kwargs))
    }
}

/// A JSON value (from YAML) as the Python object `json.loads` would make of it.
pub(crate) fn json_into_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => s.into_pyobject(py)?.into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_into_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (key, item) in map {
                dict.set_item(key, json_into_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}
