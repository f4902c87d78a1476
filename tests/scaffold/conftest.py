"""Fixtures for the `dspy-cli new` / `dspy-cli generate` tests (helpers: tests/serving.py, scaffolding.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from scaffolding import new_args
from serving import run_cli


@pytest.fixture
def cli(tmp_path: Path):
    """`cli("new", "x", ...)` runs dspy-cli in tmp_path (or `cwd=`)."""

    def call(
        *args: str, cwd: Path | None = None, input: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, cwd=cwd or tmp_path, input=input, env=env)

    return call


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh project made by `dspy-cli new acme-app` with upstream's smoke-test flags."""
    result = run_cli(*new_args("acme-app"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    return tmp_path / "acme-app"
