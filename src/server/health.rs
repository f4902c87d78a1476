//! `/health/live` (open as soon as the port is bound) and `/health/ready`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::AppState;
use super::response::json;

pub(crate) async fn live() -> Response {
    json(StatusCode::OK, &json!({"status": "alive"}))
}

pub(crate) async fn ready(State(state): State<AppState>) -> Response {
    let Some(served) = state.served() else {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"status": "not_ready", "reason": "programs are still loading"}),
        );
    };
    let (status, mut body) = if served.engine.routes.is_empty() && programs_count(served) == 0 {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "not_ready", "reason": "no modules discovered"}),
        )
    } else {
        (
            StatusCode::OK,
            json!({"status": "ready", "programs": programs_count(served)}),
        )
    };
    // Module files that failed to load are listed; a clean project answers as upstream does.
    if !served.catalog.load_errors.is_empty() {
        body["errors"] = json!(served.catalog.load_errors);
    }
    json(status, &body)
}

fn programs_count(served: &super::Served) -> usize {
    served.catalog.programs.len()
}
