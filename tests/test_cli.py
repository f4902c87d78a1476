"""The command line itself: help, version, click-compatible usage errors."""

from __future__ import annotations

import subprocess
import time

import pytest

from serving import DSPY_CLI, run_cli


def test_help_and_version():
    result = run_cli("--help")
    assert result.returncode == 0
    assert "dspy-cli" in result.stdout and "serve" in result.stdout
    result = run_cli("serve", "--help")
    assert result.returncode == 0
    assert "HTTP API server" in result.stdout and "--system" in result.stdout and "--python" in result.stdout
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("dspy-cli, version ")


def test_no_command_prints_help_and_exits_2():
    result = run_cli()
    assert result.returncode == 2 and "serve" in result.stdout


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["serve", "--port", "0"], "Error: Invalid value for '--port': 0 is not in the range 1<=x<=65535."),
        (["serve", "--port", "99999"], "Error: Invalid value for '--port': 99999 is not in the range 1<=x<=65535."),
        (["serve", "--port", "-1"], "Error: Invalid value for '--port': -1 is not in the range 1<=x<=65535."),
        (["serve", "--python", "/tmp"], "Error: Invalid value for '--python': File '/tmp' is a directory."),
        (["serve", "--python", "/nonexistent"], "Error: Invalid value for '--python': File '/nonexistent' does not exist."),
        (["serve", "--openapi-format", "xml"], "Error: Invalid value for '--openapi-format': 'xml' is not one of 'json', 'yaml'."),
        (["serve", "--sync-workers", "0"], "Error: Invalid value for '--sync-workers': 0 is not in the range 1<=x<=200."),
        (["foo"], "Error: No such command 'foo'."),
    ],
)
def test_usage_errors_look_like_click(args, error):
    result = run_cli(*args)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Usage: dspy-cli")
    assert lines[1].startswith("Try 'dspy-cli") and lines[1].endswith("--help' for help.")
    assert lines[-1] == error


def test_python_that_cannot_report_a_version(tmp_path):
    result = run_cli("serve", "--python", "/bin/sh", cwd=tmp_path)
    assert result.returncode == 1
    assert "Error: Could not determine Python version for: /bin/sh" in result.stderr


@pytest.mark.parametrize("flag", ["--reload", "--auth", "--mcp"])
def test_not_yet_supported_flags_are_refused_not_ignored(flag, tmp_path):
    result = run_cli("serve", flag, cwd=tmp_path)
    assert result.returncode == 2
    assert f"{flag} is not supported yet by dspy-cli-rs" in result.stderr


def test_help_is_fast():
    started = time.perf_counter()
    subprocess.run([DSPY_CLI, "--help"], capture_output=True, check=True)
    # Generous bound: the process includes interpreter start-up; the Rust part is instant.
    assert time.perf_counter() - started < 2.0


def test_closed_stdout_ends_quietly_instead_of_panicking():
    # `dspy-cli --help | head -1`: the reader is gone before the help is written.
    process = subprocess.Popen([DSPY_CLI, "new", "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    stderr = process.stderr.read()
    process.wait(10)
    assert b"panicked" not in stderr and b"Traceback" not in stderr
