//! Which gateway routes are open with `--auth`: those whose gateway sets `requires_auth = False`.
//!
//! Decided the way the request will be routed: a program route by the raw path (as
//! `programs::dispatch` finds it), a route of the gateways' FastAPI app by the decoded path (as
//! the app matches it), so an encoded `/` cannot turn a public pattern into a private route.

use std::collections::HashMap;

use axum::http::Method;
use percent_encoding::percent_decode_str;

use super::Served;
use super::state::{RouteMatch, matchit_path};
use crate::engine::{RouteInfo, RouteKind};

pub(crate) struct PublicRoutes {
    /// method → the public FastAPI route patterns.
    app_public: HashMap<String, matchit::Router<()>>,
    /// Every protected FastAPI route pattern (any method): a path matching one stays closed.
    app_private: matchit::Router<()>,
}

impl PublicRoutes {
    pub(crate) fn new(routes: &[RouteInfo]) -> Self {
        let mut app_public: HashMap<String, matchit::Router<()>> = HashMap::new();
        let mut app_private = matchit::Router::new();
        for route in routes.iter().filter(|r| r.kind == RouteKind::GatewayApp) {
            for described in &route.app_routes {
                let Some((method, path)) = described.split_once(' ') else {
                    continue;
                };
                let pattern = matchit_path(path);
                // An insert that conflicts is dropped: that path then stays protected.
                if route.requires_auth {
                    app_private.insert(pattern, ()).ok();
                } else {
                    app_public
                        .entry(method.to_owned())
                        .or_default()
                        .insert(pattern, ())
                        .ok();
                }
            }
        }
        Self {
            app_public,
            app_private,
        }
    }

    pub(crate) fn is_public(&self, served: &Served, method: &Method, raw_path: &str) -> bool {
        match served.find(method, raw_path) {
            RouteMatch::Found(index) => !served.engine.routes[index].requires_auth,
            _ if served.is_app_path(raw_path) => {
                let decoded = percent_decode_str(raw_path).decode_utf8_lossy();
                self.app_public
                    .get(method.as_str())
                    .is_some_and(|r| r.at(&decoded).is_ok())
                    && self.app_private.at(&decoded).is_err()
            }
            _ => false,
        }
    }
}
