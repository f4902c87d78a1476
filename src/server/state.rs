//! Shared state of the HTTP layer.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use axum::http::Method;

use crate::engine::Engine;

/// What exists once the project is loaded.
pub(crate) struct Served {
    pub(crate) engine: Arc<Engine>,
    pub(crate) programs: serde_json::Value,
    pub(crate) openapi: Bytes,
    /// path → the methods served there and the engine route index of each.
    routes: HashMap<String, Vec<(Method, usize)>>,
}

/// How a request path matched the program routes.
pub(crate) enum RouteMatch {
    Found(usize),
    WrongMethod,
    NotFound,
}

impl Served {
    pub(crate) fn new(engine: Arc<Engine>, programs: serde_json::Value, openapi: String) -> Self {
        let mut routes: HashMap<String, Vec<(Method, usize)>> = HashMap::new();
        for (index, route) in engine.routes.iter().enumerate() {
            let method = Method::from_bytes(route.method.as_bytes()).unwrap_or(Method::POST);
            routes
                .entry(route.path.clone())
                .or_default()
                .push((method, index));
        }
        Self {
            engine,
            programs,
            openapi: Bytes::from(openapi),
            routes,
        }
    }

    pub(crate) fn find(&self, method: &Method, path: &str) -> RouteMatch {
        match self.routes.get(path) {
            None => RouteMatch::NotFound,
            Some(methods) => methods
                .iter()
                .find(|(m, _)| m == method)
                .map_or(RouteMatch::WrongMethod, |(_, index)| {
                    RouteMatch::Found(*index)
                }),
        }
    }
}

#[derive(Clone, Default)]
pub(crate) struct AppState {
    served: Arc<OnceLock<Arc<Served>>>,
}

impl AppState {
    /// None until every module is imported and every LM built.
    pub(crate) fn served(&self) -> Option<&Arc<Served>> {
        self.served.get()
    }

    pub(crate) fn set_served(&self, served: Served) {
        if self.served.set(Arc::new(served)).is_err() {
            tracing::error!("the project was loaded twice; keeping the first");
        }
    }
}
