//! The tokio runtime and the signals that stop it, shared by `serve` and `mock-lm`.

use tokio::runtime::Runtime;

/// A multi-thread runtime with `worker_threads` threads (`None`: one per core, or
/// `TOKIO_WORKER_THREADS`), named `dspy-tokio` so profiles and `/proc` can tell them apart.
pub(crate) fn build_runtime(worker_threads: Option<usize>) -> std::io::Result<Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = worker_threads {
        builder.worker_threads(threads);
    }
    builder.enable_all().thread_name("dspy-tokio").build()
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
