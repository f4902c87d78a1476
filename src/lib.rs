//! dspy-cli-rs: the Rust core of `dspy-cli`, built as the extension module `dspy_cli._native`.
//!
//! The Python package calls [`main`] with `sys.argv`; everything else happens in Rust, except
//! the small amount of Python in `python/dspy_cli/_runtime` that touches user classes.

mod cli;
mod config;
mod engine;
mod mock_lm;
mod scaffold;
mod scheduler;
mod server;
mod server_runtime;
mod supervisor;
mod telemetry;

use pyo3::prelude::*;

/// Run the CLI with `argv` (`sys.argv`) and return the process exit code.
#[pyfunction]
fn main(py: Python<'_>, argv: Vec<String>) -> i32 {
    cli::run(py, argv) as i32
}

/// `text` with credentials in URLs and tokens replaced by `***`; the Python side's stdout and
/// stderr go through it, so LM errors quoting `api_base` never print a secret.
#[pyfunction]
fn redact(text: &str) -> String {
    telemetry::redact(text).into_owned()
}

/// Count an image that was not saved under `logs/img` (over a size cap), for `/metrics`.
#[pyfunction]
fn count_image_not_saved() {
    telemetry::count_image_not_saved();
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(main, m)?)?;
    m.add_function(wrap_pyfunction!(redact, m)?)?;
    m.add_function(wrap_pyfunction!(count_image_not_saved, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
