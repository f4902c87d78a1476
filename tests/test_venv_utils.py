"""``dspy_cli.utils.venv`` behaves as upstream's (reference/cli.md §9, test_venv_utils), and
serve's venv advice appears only when no virtualenv is active."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from dspy_cli.utils import venv
from serving import make_project, run_cli


def test_validate_python_version():
    ok, version = venv.validate_python_version(sys.executable, (3, 9))
    assert isinstance(ok, bool) and isinstance(version, str)
    assert ok and len(version.split(".")) >= 2 and int(version.split(".")[0]) >= 3
    assert venv.validate_python_version(sys.executable, (99, 0))[0] is False
    assert venv.validate_python_version(sys.executable)[1].count(".") >= 1
    assert venv.validate_python_version("/bin/sh") == (False, "")
    assert venv.validate_python_version("/nonexistent/python") == (False, "")


def test_validate_python_version_ignores_a_broken_sitecustomize(tmp_path, monkeypatch):
    (tmp_path / "sitecustomize.py").write_text("raise RuntimeError('broken')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    ok, version = venv.validate_python_version(sys.executable)
    assert ok and version


def test_sanitize_env_for_exec(monkeypatch):
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "__PYVENV_LAUNCHER__", "CONDA_PREFIX", "CONDA_X"):
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("MY_CUSTOM_VAR", "kept")
    env = venv.sanitize_env_for_exec()
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "__PYVENV_LAUNCHER__", "CONDA_PREFIX", "CONDA_X"):
        assert name not in env
    assert env["PYTHONNOUSERSITE"] == "1" and env["MY_CUSTOM_VAR"] == "kept"


@pytest.mark.parametrize(
    ("fish_version", "shell", "expected"),
    [("3.7", "/bin/bash", True), (None, "/usr/bin/fish", True), (None, "/bin/bash", False)],
)
def test_fish_detection_and_activate_command(monkeypatch, fish_version, shell, expected):
    if fish_version is None:
        monkeypatch.delenv("FISH_VERSION", raising=False)
    else:
        monkeypatch.setenv("FISH_VERSION", fish_version)
    monkeypatch.setenv("SHELL", shell)
    assert venv._is_fish_shell() is expected
    command = "source .venv/bin/activate.fish" if expected else "source .venv/bin/activate"
    assert venv.venv_activate_command() == command
    monkeypatch.setattr(sys, "platform", "win32")
    assert venv.venv_activate_command() == ".venv\\Scripts\\activate"


def test_outside_a_project_the_error_comes_first_and_alone(tmp_path):
    result = run_cli("serve", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith("Error: Not a valid DSPy project directory"), result.stdout
    assert "virtual environment" not in result.stdout
    assert "Aborted!" not in result.stderr


def test_no_venv_advice_when_a_virtualenv_is_active(tmp_path: Path):
    # The tests run in the checkout's .venv (sys.prefix != sys.base_prefix), and the project has
    # no .venv of its own: serve runs here, without the "No virtual environment" warning.
    assert sys.prefix != sys.base_prefix
    root = make_project(tmp_path, {}, "models: {}\n")
    result = run_cli("serve", "--no-reload", cwd=root)
    assert "Configuration error" in result.stdout
    assert "No virtual environment detected" not in result.stdout
