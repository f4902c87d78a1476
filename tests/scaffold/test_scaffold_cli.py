"""tests/test_cli.py of dspy-cli 0.1.13 (cli.md §9), plus start-up cost of the scaffolding commands."""

from __future__ import annotations

import subprocess
import sys
import time

from scaffolding import new_args
from serving import DSPY_CLI


def test_help_lists_commands(cli):
    result = cli("--help")
    assert result.returncode == 0
    for word in ("dspy-cli", "new", "serve", "generate"):
        assert word in result.stdout


def test_new_help(cli):
    result = cli("new", "--help")
    assert result.returncode == 0
    assert "Create a new DSPy project" in result.stdout
    # Upstream's option help, except where it was wrong (its default was always my_program).
    assert "Name of the initial program (default: my_program)" in result.stdout
    assert "API key for the LLM provider (will be stored in .env)" in result.stdout


def test_serve_help(cli):
    result = cli("serve", "--help")
    assert result.returncode == 0
    assert "HTTP API server" in result.stdout


def test_generate_help_and_alias(cli):
    for name in ("generate", "g"):
        result = cli(name, "--help")
        assert result.returncode == 0
        assert "Generate new components in an existing DSPy project." in result.stdout
        assert "Use 'g' as a shorthand alias for 'generate'." in result.stdout
    gateway = cli("g", "gateway", "--help").stdout
    assert "Custom HTTP path for API gateway (default: /{Name})" in gateway
    assert "Cron schedule for cron gateway (default: hourly)" in gateway


def test_generate_without_subcommand_shows_help_and_exits_2(cli):
    result = cli("g")
    assert result.returncode == 2
    assert "scaffold" in result.stdout + result.stderr


def test_missing_program_name_is_a_usage_error(cli):
    result = cli("g", "scaffold")
    assert result.returncode == 2
    assert "Error: Missing argument 'PROGRAM_NAME'." in result.stderr


def test_help_is_fast():
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([str(DSPY_CLI), "--help"], capture_output=True, check=True)
        timings.append(time.perf_counter() - start)
    assert min(timings) < 0.1, timings


def test_new_and_generate_do_not_import_dspy(tmp_path):
    """Scaffolding is Rust only: the interpreter that runs the console script never imports dspy."""

    def imported_modules(*args: str, cwd) -> set[str]:
        code = "import sys; from dspy_cli import main; sys.argv = ['dspy-cli', *sys.argv[1:]]; main()"
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code, *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.startswith("import time:")]
        return {line.rsplit("|", 1)[-1].strip() for line in lines}

    modules = imported_modules(*new_args("fast", **{"--signature": "x: Optional[int] -> y: list[str]"}), cwd=tmp_path)
    modules |= imported_modules("g", "scaffold", "extra", "-s", "a: dspy.Image -> b", cwd=tmp_path / "fast")
    assert "dspy_cli._native" in modules
    assert not {m for m in modules if m == "dspy" or m.startswith(("dspy.", "litellm", "pydantic"))}
