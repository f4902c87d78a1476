//! `dspy-cli mock-lm`: run the OpenAI-compatible mock LM until Ctrl+C / SIGTERM.

use std::time::Duration;

use pyo3::Python;

use super::ExitStatus;
use super::args::MockLmArgs;
use crate::mock_lm::{self, MockOptions};
use crate::server_runtime::{build_runtime, shutdown_signal};

pub(super) fn mock_lm(py: Python<'_>, args: &MockLmArgs) -> ExitStatus {
    crate::telemetry::init_logging();
    let options = MockOptions {
        delay: Duration::from_millis(args.delay_ms),
        error_rate: args.error_rate,
    };
    let address = format!("{}:{}", args.host, args.port);
    // Nothing here needs Python: run the whole server detached.
    py.detach(|| {
        let runtime = match build_runtime(None) {
            Ok(rt) => rt,
            Err(err) => {
                eprintln!("Error: could not start the async runtime: {err}");
                return ExitStatus::Failure;
            }
        };
        runtime.block_on(async {
            let listener = match tokio::net::TcpListener::bind(&address).await {
                Ok(l) => l,
                Err(err) => {
                    eprintln!("Error: could not listen on {address}: {err}. Choose another port with --port.");
                    return ExitStatus::Failure;
                }
            };
            println!(
                "Mock LM listening on http://{address}/v1 (delay {} ms, error rate {})",
                args.delay_ms, args.error_rate
            );
            match mock_lm::serve(listener, options, async { shutdown_signal().await }).await {
                Ok(()) => ExitStatus::Success,
                Err(err) => {
                    eprintln!("Mock LM error: {err}");
                    ExitStatus::Failure
                }
            }
        })
    })
}
