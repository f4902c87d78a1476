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
mod telemetry;

use pyo3::prelude::*;

/// Run the CLI with `argv` (`sys.argv`) and return the process exit code.
#[pyfunction]
fn main(py: Python<'_>, argv: Vec<String>) -> i32 {
    cli::run(py, argv) as i32
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(main, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
