//! Shared state of the HTTP layer.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock, Weak};

use axum::body::Bytes;
use axum::http::Method;
use tokio::sync::watch;

use super::backpressure::{Limits, ProgramSlots};
use super::connections::ConnectionStats;
use crate::engine::{Catalog, Engine, RouteKind};
use crate::telemetry::{HttpMetrics, InferenceLog, MetricsStore};

/// What exists once the project is loaded.
pub(crate) struct Served {
    pub(crate) engine: Arc<Engine>,
    /// Programs and what failed to load at start-up (reported by `/health/ready`).
    pub(crate) catalog: Catalog,
    pub(crate) openapi: Bytes,
    pub(crate) slots: ProgramSlots,
    pub(crate) metrics: Arc<MetricsStore>,
    pub(crate) http_metrics: HttpMetrics,
    pub(crate) log: InferenceLog,
    pub(crate) logs_dir: PathBuf,
    /// `server.expose_errors`: 5xx bodies carry the (redacted) error, or only a request id.
    pub(crate) expose_errors: bool,
    /// path → the methods served there and the engine route index of each.
    routes: HashMap<String, Vec<(Method, usize)>>,
    /// Paths that the gateways' FastAPI app serves (every method goes to the app).
    app_paths: matchit::Router<()>,
}

/// The slots of the gateways' FastAPI app: it counts as one program (never a Python
/// identifier, so no program can share its name).
pub(crate) const GATEWAY_APP: &str = "<gateway app>";

/// How a request path matched the program routes.
pub(crate) enum RouteMatch {
    Found(usize),
    WrongMethod,
    NotFound,
}

/// Everything [`Served::new`] needs besides the engine.
pub(crate) struct ServedParts {
    pub(crate) catalog: Catalog,
    pub(crate) limits: Limits,
    pub(crate) metrics: Arc<MetricsStore>,
    pub(crate) log: InferenceLog,
    pub(crate) logs_dir: PathBuf,
    pub(crate) expose_errors: bool,
}

impl Served {
    pub(crate) fn new(engine: Arc<Engine>, parts: ServedParts) -> Self {
        let mut routes: HashMap<String, Vec<(Method, usize)>> = HashMap::new();
        for (index, route) in engine.routes.iter().enumerate() {
            if route.kind != RouteKind::Http {
                continue;
            }
            let method = Method::from_bytes(route.method.as_bytes()).unwrap_or(Method::POST);
            routes.entry(route.path.clone()).or_default().push((method, index));
        }
        let app: Arc<str> = GATEWAY_APP.into();
        let programs = engine.routes.iter().map(|r| &r.program).chain([&app]);
        let slots = ProgramSlots::new(programs, parts.limits);
        let mut app_paths = matchit::Router::new();
        for path in &engine.app_paths {
            if let Err(err) = app_paths.insert(matchit_path(path), ()) {
                tracing::error!("gateway route {path} cannot be served: {err}");
            }
        }
        Self {
            app_paths,
            engine,
            openapi: Bytes::from(parts.catalog.openapi.clone()),
            catalog: parts.catalog,
            slots,
            metrics: parts.metrics,
            http_metrics: HttpMetrics::default(),
            log: parts.log,
            logs_dir: parts.logs_dir,
            expose_errors: parts.expose_errors,
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

    /// True when `path` belongs to the gateways' FastAPI app.
    pub(crate) fn is_app_path(&self, path: &str) -> bool {
        self.app_paths.at(path).is_ok()
    }

    /// Discovered programs, in discovery order (cron-only ones included).
    pub(crate) fn program_names(&self) -> impl Iterator<Item = &str> {
        self.catalog.program_names()
    }

    pub(crate) fn has_program(&self, name: &str) -> bool {
        self.program_names().any(|p| p == name)
    }
}

/// A FastAPI path (`/a/{id}`, `/f/{rest:path}`, `/n/{n:int}`) in matchit's syntax.
pub(crate) fn matchit_path(path: &str) -> String {
    path.split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(param) => match param.split_once(':') {
                    Some((name, "path")) => format!("{{*{name}}}"),
                    Some((name, _)) => format!("{{{name}}}"),
                    None => segment.to_owned(),
                },
                None => segment.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

#[derive(Clone)]
pub(crate) struct AppState {
    served: Arc<OnceLock<Arc<Served>>>,
    /// Becomes true when the shutdown deadline has passed: waiting requests answer 503.
    shutdown_expired: watch::Receiver<bool>,
    pub(crate) connections: Arc<ConnectionStats>,
}

impl AppState {
    pub(crate) fn new(shutdown_expired: watch::Receiver<bool>, connections: Arc<ConnectionStats>) -> Self {
        Self {
            served: Arc::default(),
            shutdown_expired,
            connections,
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

    /// A handle that does not keep the served project alive (held by Python, which the engine
    /// itself owns: a strong one would make a cycle).
    pub(crate) fn downgrade(&self) -> WeakAppState {
        WeakAppState {
            served: Arc::downgrade(&self.served),
            shutdown_expired: self.shutdown_expired.clone(),
            connections: self.connections.clone(),
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

pub(crate) struct WeakAppState {
    served: Weak<OnceLock<Arc<Served>>>,
    shutdown_expired: watch::Receiver<bool>,
    connections: Arc<ConnectionStats>,
}

impl WeakAppState {
    pub(crate) fn upgrade(&self) -> Option<AppState> {
        Some(AppState {
            served: self.served.upgrade()?,
            shutdown_expired: self.shutdown_expired.clone(),
            connections: self.connections.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::matchit_path;

    #[test]
    fn fastapi_paths_become_matchit_paths() {
        assert_eq!(matchit_path("/hooks/in"), "/hooks/in");
        assert_eq!(matchit_path("/hooks/{id}"), "/hooks/{id}");
        assert_eq!(matchit_path("/n/{n:int}/x"), "/n/{n}/x");
        assert_eq!(matchit_path("/files/{rest:path}"), "/files/{*rest}");
    }
}
