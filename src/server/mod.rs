//! The axum application: built-in routes, program dispatch, JSON errors.
//!
//! Never touches Python: program requests go to the engine as bytes and come back as bytes.

mod api_docs;
mod auth;
mod auth_public;
mod backpressure;
mod body;
mod connections;
mod cors;
mod error;
mod gateway_app;
mod health;
mod login;
mod login_limit;
mod metrics_routes;
mod programs;
mod request_id;
mod response;
mod security;
mod session;
mod state;
mod ui;

use axum::Router;
use axum::routing::get;

pub(crate) use auth::{Auth, KeySource, LoginSettings};
pub(crate) use backpressure::Limits;
pub(crate) use connections::{ConnectionLimits, ConnectionStats, serve, set_drain_linger};
pub(crate) use cors::{Cors, CorsError, CorsOrigins};
pub(crate) use security::Security;
pub(crate) use state::{AppState, Served, ServedParts};

pub(crate) fn router(state: AppState, security: &Security) -> Router {
    let routes = Router::new()
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/programs", get(programs::list))
        .route("/openapi.json", get(programs::openapi))
        .route("/api/metrics", get(metrics_routes::all))
        .route("/api/metrics/{program}", get(metrics_routes::one))
        .route("/api/logs/{program}", get(metrics_routes::logs))
        .route("/metrics", get(metrics_routes::prometheus))
        // Web UI and API docs (ui.rs, api_docs.rs)
        .route("/", get(ui::index))
        .route("/ui/{program}", get(ui::program_page))
        .route("/static/{*path}", get(ui::static_asset))
        .route("/docs", get(api_docs::swagger))
        .route("/redoc", get(api_docs::redoc));
    let routes = security
        .add_routes(routes)
        .method_not_allowed_fallback(response::method_not_allowed)
        .fallback(programs::dispatch);
    security
        .add_layers(routes, &state)
        .layer(axum::middleware::from_fn(response::access_log))
        .with_state(state)
}
