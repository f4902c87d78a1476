//! An OpenAI-compatible mock LM for tests, demos and benchmarks.
//!
//! It reads the output fields that DSPy's adapters list in the system prompt and answers each
//! with a value of the declared type; string fields carry `model=<requested model>` so callers
//! can check which LM served them. Usage is reported so token accounting can be tested.
//! A model whose name contains `malformed` answers text that no adapter can parse.

mod answer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// Behaviour knobs of the mock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MockOptions {
    pub(crate) delay: Duration,
    pub(crate) error_rate: f64,
}

struct MockState {
    options: MockOptions,
    requests: AtomicU64,
}

pub(crate) fn router(options: MockOptions) -> Router {
    let state = Arc::new(MockState {
        options,
        requests: AtomicU64::new(0),
    });
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/chat/completions", post(chat_completions))
        .route("/v1/models", get(models))
        .route("/health", get(|| async { "ok" }))
        .route("/stats", get(stats))
        .with_state(state)
}

/// Bind and serve the mock until `shutdown` resolves.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    options: MockOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(options))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Start the mock on an ephemeral loopback port inside the current runtime.
pub(crate) async fn spawn_local(options: MockOptions) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, router(options)).await {
            tracing::error!("built-in mock LM stopped: {err}");
        }
    });
    Ok(addr)
}

async fn models() -> Response {
    axum::Json(json!({"object": "list", "data": [{"id": "mock", "object": "model"}]})).into_response()
}

async fn stats(State(state): State<Arc<MockState>>) -> Response {
    axum::Json(json!({"requests": state.requests.load(Ordering::Relaxed)})).into_response()
}

async fn chat_completions(State(state): State<Arc<MockState>>, body: axum::body::Bytes) -> Response {
    state.requests.fetch_add(1, Ordering::Relaxed);
    if !state.options.delay.is_zero() {
        tokio::time::sleep(state.options.delay).await;
    }
    if state.options.error_rate > 0.0 && rand::random::<f64>() < state.options.error_rate {
        let error = json!({"error": {"message": "mock LM: injected failure", "type": "server_error", "code": 500}});
        return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(error)).into_response();
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            let error = json!({"error": {"message": format!("invalid JSON: {e}"), "type": "invalid_request_error"}});
            return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
        }
    };
    axum::Json(answer::completion(&request)).into_response()
}
