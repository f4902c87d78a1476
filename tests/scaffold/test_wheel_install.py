"""A project made by `dspy-cli new` gets our wheel installed the way its README says, into its
own fresh virtualenv, and `dspy-cli serve` (no --system) finds that venv and serves from it.

Bounded on purpose: the wheel is built once per session with `make wheel WHEEL_PROFILE=` (the
dev profile; `make wheel` alone does a slow LTO release build of the same abi3 wheel), and pip
installs the project's dependencies pinned to the versions of our own .venv (`pip freeze` as a
constraints file), so they come from pip's cache instead of a fresh resolution. The venv is a
plain `python -m venv`: no system site-packages, dspy really installed into it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from scaffolding import new_args
from serving import run_cli, start_server

REPO = Path(__file__).resolve().parents[2]

WHERE = """
import sys

import dspy
import dspy_cli


class Where(dspy.Module):
    def forward(self, question: str) -> dict:
        return {"prefix": sys.prefix, "dspy_cli": dspy_cli.__file__}
"""


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(["make", "-s", "wheel", "WHEEL_PROFILE=", f"DIST={dist}"], cwd=REPO, check=True, timeout=900)
    (built,) = dist.glob("dspy_cli_rs-*-abi3-*.whl")
    return built


def run(command: list[str], cwd: Path, timeout: float) -> None:
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"{command} failed:\n{proc.stdout}\n{proc.stderr}"


@pytest.mark.timeout(1200)
def test_new_project_installs_the_wheel_and_serves_from_its_venv(tmp_path, wheel):
    assert run_cli(*new_args("wheel-app"), cwd=tmp_path).returncode == 0
    project = tmp_path / "wheel-app"
    (project / "src/wheel_app/modules/where.py").write_text(WHERE)

    # The README's steps: the wheel into wheels/, a venv, pip install --find-links wheels -e .
    readme = (project / "README.md").read_text()
    assert "python -m venv .venv && .venv/bin/pip install --find-links wheels -e ." in readme
    (project / "wheels").mkdir()
    shutil.copy(wheel, project / "wheels")
    constraints = tmp_path / "constraints.txt"
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"], capture_output=True, text=True, check=True
    )
    constraints.write_text(frozen.stdout)
    run([sys.executable, "-m", "venv", ".venv"], project, timeout=120)
    pip = [str(project / ".venv/bin/pip"), "install", "-q", "--disable-pip-version-check"]
    run([*pip, "--find-links", "wheels", "-c", str(constraints), "-e", "."], project, timeout=900)

    # Our own dspy-cli, as a user would have it on PATH; it must re-execute into project/.venv.
    with start_server(project, "--mock-lm", system=False, timeout=120) as server:
        base, pid = server.url, server.process.pid
        answer = httpx.post(f"{base}/MainPredict", json={"question": "q"}, timeout=30)
        assert answer.status_code == 200 and answer.json() == {"answer": "model=gpt-4o-mini"}
        where = httpx.post(f"{base}/Where", json={"question": "q"}, timeout=30).json()
        # The server runs in the project's venv, with dspy_cli from the installed wheel.
        assert Path(where["prefix"]).resolve() == (project / ".venv").resolve()
        assert Path(where["dspy_cli"]).resolve().is_relative_to((project / ".venv").resolve())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert cmdline[0] == os.fsencode(project / ".venv/bin/python")
