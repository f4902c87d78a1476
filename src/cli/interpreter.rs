//! Which Python runs the server: this one, `--python`, or the project's `.venv`.
//!
//! Re-executing uses `<python> -m dspy_cli serve ... --system`, so every flag (including
//! `--no-reload` and `--no-save-openapi`, which upstream lost on this path) is kept.

use std::io::Read as _;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use pyo3::prelude::*;
use wait_timeout::ChildExt as _;

use super::ExitStatus;

const MIN_PYTHON: (u32, u32) = (3, 10);

pub(super) enum Interpreter {
    InProcess,
    Exec(PathBuf),
}

/// Decide where to run, printing upstream's messages; `Err` carries the exit status.
pub(super) fn choose(
    py: Python<'_>,
    system: bool,
    python: Option<&Path>,
    cwd: &Path,
) -> Result<Interpreter, ExitStatus> {
    if system {
        return Ok(Interpreter::InProcess);
    }
    if let Some(python) = python {
        check_python(python)?;
        require_dspy_cli(python)?;
        return Ok(Interpreter::Exec(python.to_path_buf()));
    }
    let (prefix, base_prefix) = prefixes(py);
    let Some(venv_python) = detect_venv_python(cwd) else {
        // An active virtualenv (activated, or this interpreter is a venv's) is the user's choice:
        // only a bare system interpreter gets the advice.
        let active = prefix != base_prefix || std::env::var_os("VIRTUAL_ENV").is_some_and(|v| !v.is_empty());
        if !active {
            print_venv_warning();
        }
        return Ok(Interpreter::InProcess);
    };
    let venv_root = venv_python
        .parent()
        .and_then(Path::parent)
        .and_then(|p| p.canonicalize().ok());
    let running_in_it =
        prefix != base_prefix && venv_root.is_some() && Path::new(&prefix).canonicalize().ok() == venv_root;
    if running_in_it {
        return Ok(Interpreter::InProcess);
    }
    require_dspy_cli(&venv_python)?;
    Ok(Interpreter::Exec(venv_python))
}

fn prefixes(py: Python<'_>) -> (String, String) {
    let read = |name: &str| -> Option<String> { py.import("sys").ok()?.getattr(name).ok()?.extract().ok() };
    (
        read("prefix").unwrap_or_default(),
        read("base_prefix").unwrap_or_default(),
    )
}

fn detect_venv_python(cwd: &Path) -> Option<PathBuf> {
    [".venv", "venv"]
        .iter()
        .map(|dir| cwd.join(dir).join("bin").join("python"))
        .find(|p| p.exists())
}

fn check_python(python: &Path) -> Result<(), ExitStatus> {
    let fail = |message: String| {
        eprintln!("{message}");
        Err(ExitStatus::Failure)
    };
    if !python.is_file() {
        return fail(format!("Error: Not a valid Python executable: {}", python.display()));
    }
    let executable = python.metadata().is_ok_and(|m| m.permissions().mode() & 0o111 != 0);
    if !executable {
        return fail(format!(
            "Error: Python interpreter is not executable: {}",
            python.display()
        ));
    }
    let script = "import sys; print('.'.join(map(str, sys.version_info[:3])))";
    let version = run_with_timeout(Command::new(python).args(["-S", "-c", script]), Duration::from_secs(5))
        .and_then(|out| parse_version(out.trim()));
    match version {
        None => fail(format!(
            "Error: Could not determine Python version for: {}",
            python.display()
        )),
        Some((major, minor, patch)) if (major, minor) < MIN_PYTHON => fail(format!(
            "Error: Python {major}.{minor}.{patch} is too old. Minimum required: Python {}.{}",
            MIN_PYTHON.0, MIN_PYTHON.1
        )),
        Some(_) => Ok(()),
    }
}

fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let mut parts = text.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??, parts.next().flatten().unwrap_or(0)))
}

/// Run a command, returning its stdout if it exits 0 within `timeout` (killed otherwise). The
/// commands here print a few bytes, far below a pipe's buffer, so reading after the exit is safe.
fn run_with_timeout(command: &mut Command, timeout: Duration) -> Option<String> {
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let Some(status) = child.wait_timeout(timeout).ok().flatten() else {
        child.kill().ok();
        child.wait().ok();
        return None;
    };
    if !status.success() {
        return None;
    }
    let mut out = String::new();
    child.stdout.take()?.read_to_string(&mut out).ok()?;
    Some(out)
}

fn require_dspy_cli(python: &Path) -> Result<(), ExitStatus> {
    let script = "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('dspy_cli') else 1)";
    if run_with_timeout(Command::new(python).args(["-c", script]), Duration::from_secs(10)).is_some() {
        return Ok(());
    }
    println!(
        "dspy-cli is not installed in your project virtual environment ({}).\n\nInstall it into your project (dspy-cli-rs is not on the package index yet: `make wheel` in a\ndspy-cli-rs checkout builds its wheel into dist/):\n  {} -m pip install /path/to/dspy-cli-rs/dist/dspy_cli_rs-*.whl\n\nThen run directly:\n  dspy-cli serve\n\nYou can bypass this check with --system",
        python.display(),
        python.display()
    );
    Err(ExitStatus::Failure)
}

fn print_venv_warning() {
    println!(
        "⚠ Warning: No virtual environment detected\n\nRunning without a project venv may cause import errors if dependencies\n(including dspy-cli) are not installed in your current environment.\n\nFor best results, either:\n  1. Add dspy-cli-rs to your project (its wheel in wheels/, see the project's README.md):\n     python -m venv .venv && .venv/bin/pip install --find-links wheels -e .\n  2. Or create and activate a venv with uv:\n     uv sync && source .venv/bin/activate\n  3. Use a task runner:\n     uv run dspy-cli serve\n  4. Specify Python interpreter:\n     dspy-cli serve --python /path/to/python\n  5. Use system environment:\n     dspy-cli serve --system\n\nAttempting to continue with current environment...\n"
    );
}

/// Replace this process with `python -m dspy_cli <command> <args> --system`. Returns only on
/// failure.
pub(super) fn exec_command(python: &Path, command_name: &str, command_args: &[String]) -> ExitStatus {
    let mut args: Vec<String> = vec!["-m".into(), "dspy_cli".into(), command_name.into()];
    args.extend(crate::supervisor::chosen_interpreter_args(command_args));
    let mut command = Command::new(python);
    command.args(&args).env("PYTHONNOUSERSITE", "1");
    for (key, _) in std::env::vars_os() {
        let key_text = key.to_string_lossy();
        let drop = [
            "PYTHONPATH",
            "PYTHONHOME",
            "VIRTUAL_ENV",
            "__PYVENV_LAUNCHER__",
            "PYTHONEXECUTABLE",
        ]
        .contains(&key_text.as_ref())
            || key_text.starts_with("CONDA_");
        if drop {
            command.env_remove(&key);
        }
    }
    let err = command.exec();
    eprintln!("Error executing {}: {err}", python.display());
    ExitStatus::Failure
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::time::{Duration, Instant};

    use super::{parse_version, run_with_timeout};

    #[test]
    fn runs_commands_with_a_deadline() {
        let sh = |script: &str| {
            let mut command = Command::new("sh");
            command.args(["-c", script]);
            command
        };
        let long = Duration::from_secs(30);
        assert_eq!(
            run_with_timeout(&mut sh("echo 3.12.1"), long).as_deref(),
            Some("3.12.1\n")
        );
        assert_eq!(run_with_timeout(&mut sh("echo partial; exit 3"), long), None);
        let started = Instant::now();
        assert_eq!(
            run_with_timeout(&mut sh("exec sleep 30"), Duration::from_millis(200)),
            None
        );
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the child was not killed at the deadline"
        );
    }

    #[test]
    fn parses_versions() {
        assert_eq!(parse_version("3.11.7"), Some((3, 11, 7)));
        assert_eq!(parse_version("3.9"), Some((3, 9, 0)));
        assert_eq!(parse_version("sh: nope"), None);
    }
}
