"""``dspy_cli.utils.venv``: upstream's interpreter helpers, same names and results.

`dspy-cli serve` itself decides in Rust (src/cli/interpreter.rs); these exist because projects'
tests import them from upstream's path (reference: upstream's tests/test_venv_utils.py).
"""

from __future__ import annotations

import os
import subprocess
import sys

# What `serve` removes before running the project's interpreter: they would point it at
# another environment.
_DROPPED = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "__PYVENV_LAUNCHER__", "PYTHONEXECUTABLE")


def validate_python_version(python_path: str, min_version: tuple[int, int] = (3, 9)) -> tuple[bool, str]:
    """``(ok, "3.11.7")`` for the interpreter at ``python_path``; ``(False, "")`` when its version
    cannot be read. ``-S`` skips site-packages, so a broken ``sitecustomize`` cannot interfere."""
    script = "import sys; print('.'.join(map(str, sys.version_info[:3])))"
    try:
        # The caller names the interpreter to inspect; no shell is involved.
        result = subprocess.run(  # noqa: S603
            [python_path, "-S", "-c", script], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return False, ""
    version = result.stdout.strip()
    parts = version.split(".")
    if result.returncode != 0 or len(parts) < 2 or not all(p.isdigit() for p in parts):
        return False, ""
    return (int(parts[0]), int(parts[1])) >= min_version, version


def sanitize_env_for_exec() -> dict[str, str]:
    """A copy of the environment fit for running another project's interpreter."""
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED and not k.startswith("CONDA_")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _is_fish_shell() -> bool:
    return "FISH_VERSION" in os.environ or os.environ.get("SHELL", "").endswith("/fish")


def venv_activate_command(venv_dir: str = ".venv") -> str:
    """The command that activates ``venv_dir`` in the user's shell."""
    if sys.platform == "win32":
        return f"{venv_dir}\\Scripts\\activate"
    if _is_fish_shell():
        return f"source {venv_dir}/bin/activate.fish"
    return f"source {venv_dir}/bin/activate"
