//! The tokio runtime and the signals that stop it, shared by `serve` and `mock-lm`.

use tokio::runtime::Runtime;

pub(crate) fn build_runtime() -> std::io::Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("dspy-tokio")
        .build()
}

/// Resolves on the first SIGINT (Ctrl+C) or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(signal) => signal,
        Err(err) => {
            tracing::error!("cannot listen for SIGTERM: {err}");
            ctrl_c.await.ok();
            return;
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate.recv() => {},
    }
}
