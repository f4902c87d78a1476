//! `/health/live` (open as soon as the port is bound) and `/health/ready`.

use axum::extract::State;
use axum::response::Response;
use serde_json::json;

use super::AppState;
use super::response::json;

pub(crate) async fn live() -> Response {
    json(200, &json!({"status": "alive"}))
}

pub(crate) async fn ready(State(state): State<AppState>) -> Response {
    match state.served() {
        None => json(
            503,
            &json!({"status": "not_ready", "reason": "programs are still loading"}),
        ),
        Some(served) if served.engine.routes.is_empty() && programs_count(served) == 0 => {
            json(503, &json!({"status": "not_ready", "reason": "no modules discovered"}))
        }
        Some(served) => json(200, &json!({"status": "ready", "programs": programs_count(served)})),
    }
}

fn programs_count(served: &super::Served) -> usize {
    served.programs.as_array().map_or(0, Vec::len)
}
