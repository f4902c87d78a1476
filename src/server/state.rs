//! Shared state of the HTTP layer.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use axum::http::Method;
use tokio::sync::watch;

use super::backpressure::{Limits, ProgramSlots};
use crate::engine::Engine;
use crate::telemetry::{HttpMetrics, InferenceLog, MetricsStore};

/// What exists once the project is loaded.
pub(crate) struct Served {
    pub(crate) engine: Arc<Engine>,
    pub(crate) programs: serde_json::Value,
    /// What failed to load at start-up (reported by `/health/ready`).
    pub(crate) load_errors: serde_json::Value,
    pub(crate) openapi: Bytes,
    pub(crate) slots: ProgramSlots,
    pub(crate) metrics: Arc<MetricsStore>,
    pub(crate) http_metrics: HttpMetrics,
    pub(crate) log: InferenceLog,
    pub(crate) logs_dir: PathBuf,
    /// path → the methods served there and the engine route index of each.
    routes: HashMap<String, Vec<(Method, usize)>>,
}

/// How a request path matched the program routes.
pub(crate) enum RouteMatch {
    Found(usize),
    WrongMethod,
    NotFound,
}

/// Everything [`Served::new`] needs besides the engine.
pub(crate) struct ServedParts {
    pub(crate) programs: serde_json::Value,
    pub(crate) load_errors: serde_json::Value,
    pub(crate) openapi: String,
    pub(crate) limits: Limits,
    pub(crate) metrics: Arc<MetricsStore>,
    pub(crate) log: InferenceLog,
    pub(crate) logs_dir: PathBuf,
}

impl Served {
    pub(crate) fn new(engine: Arc<Engine>, parts: ServedParts) -> Self {
        let mut routes: HashMap<String, Vec<(Method, usize)>> = HashMap::new();
        for (index, route) in engine.routes.iter().enumerate() {
            let method = Method::from_bytes(route.method.as_bytes()).unwrap_or(Method::POST);
            routes.entry(route.path.clone()).or_default().push((method, index));
        }
        let slots = ProgramSlots::new(engine.routes.iter().map(|r| &r.program), parts.limits);
        Self {
            engine,
            programs: parts.programs,
            load_errors: parts.load_errors,
            openapi: Bytes::from(parts.openapi),
            slots,
            metrics: parts.metrics,
            http_metrics: HttpMetrics::default(),
            log: parts.log,
            logs_dir: parts.logs_dir,
            routes,
        }
    }

    pub(crate) fn find(&self, method: &Method, path: &str) -> RouteMatch {
        match self.routes.get(path) {
            None => RouteMatch::NotFound,
            Some(methods) => methods
                .iter()
                .find(|(m, _)| m == method)
                .map_or(RouteMatch::WrongMethod, |(_, index)| RouteMatch::Found(*index)),
        }
    }

    /// Discovered programs, in discovery order (cron-only ones included).
    pub(crate) fn program_names(&self) -> impl Iterator<Item = &str> {
        self.programs
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["name"].as_str())
    }

    pub(crate) fn has_program(&self, name: &str) -> bool {
        self.program_names().any(|p| p == name)
    }
}

#[derive(Clone)]
pub(crate) struct AppState {
    served: Arc<OnceLock<Arc<Served>>>,
    /// Becomes true when the shutdown deadline has passed: waiting requests answer 503.
    shutdown_expired: watch::Receiver<bool>,
}

impl AppState {
    pub(crate) fn new(shutdown_expired: watch::Receiver<bool>) -> Self {
        Self {
            served: Arc::default(),
            shutdown_expired,
        }
    }

    /// None until every module is imported and every LM built.
    pub(crate) fn served(&self) -> Option<&Arc<Served>> {
        self.served.get()
    }

    pub(crate) fn set_served(&self, served: Served) {
        if self.served.set(Arc::new(served)).is_err() {
            tracing::error!("the project was loaded twice; keeping the first");
        }
    }

    /// Resolves once the shutdown deadline has passed.
    pub(crate) async fn shutdown_expired(&self) {
        let mut expired = self.shutdown_expired.clone();
        if expired.wait_for(|e| *e).await.is_err() {
            // The sender is gone only when the process is ending: never resolve.
            std::future::pending::<()>().await;
        }
    }
}
