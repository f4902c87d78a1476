//! The axum application: built-in routes, program dispatch, JSON errors.
//!
//! Never touches Python: program requests go to the engine as bytes and come back as bytes.

mod backpressure;
mod gateway_app;
mod health;
mod metrics_routes;
mod programs;
mod request_id;
mod response;
mod state;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;

pub(crate) use backpressure::Limits;
pub(crate) use state::{AppState, Served, ServedParts};

/// Request bodies may carry images as data URIs; FastAPI had no limit at all.
const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/programs", get(programs::list))
        .route("/openapi.json", get(programs::openapi))
        .route("/api/metrics", get(metrics_routes::all))
        .route("/api/metrics/{program}", get(metrics_routes::one))
        .route("/api/logs/{program}", get(metrics_routes::logs))
        .route("/metrics", get(metrics_routes::prometheus))
        .method_not_allowed_fallback(response::method_not_allowed)
        .fallback(programs::dispatch)
        .layer(axum::middleware::from_fn(response::access_log))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Serve `router` on `listener` until `shutdown` resolves, then let in-flight requests finish.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
