"""Helpers for the `dspy-cli new` / `dspy-cli generate` tests.

Every test runs the installed `dspy-cli` console script (the one next to `sys.executable`) in
a temporary directory, with stdin closed unless the test is about prompts.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

DSPY_CLI = Path(sys.executable).with_name("dspy-cli")

# What `new` needs to run without asking anything (cli.md §2.2, "fully non-interactive form").
NON_INTERACTIVE = {
    "--program-name": "main",
    "--module-type": "Predict",
    "--signature": "question -> answer",
    "--model": "openai/gpt-4o-mini",
    "--api-key": "",
}


# Printed under every signature error (upstream printed an empty "Error parsing signature: ").
SIGNATURE_HINT = 'Write it as "inputs -> outputs", e.g. "question -> answer" or "text, context: list[str] -> summary, tags: list[str]".'


def no_answer(flag: str) -> str:
    """What a prompt prints when stdin is closed: which flag answers it (upstream: only "Aborted!")."""
    return (
        f"\nError: no answer to this question (standard input is closed). Pass {flag} to answer it without a prompt.\n"
    )


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment without provider keys, so no key is "found in environment"."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(extra or {})
    return env


def run_cli(*args: str, cwd: Path, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    proc = subprocess.run(
        [str(DSPY_CLI), *args],
        cwd=cwd,
        input=input,
        stdin=subprocess.DEVNULL if input is None else None,
        capture_output=True,
        text=True,
        env=clean_env(env),
        timeout=60,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def new_args(name: str, **overrides: str) -> list[str]:
    """`new <name>` with the non-interactive flags, `overrides` replacing some (keys are flags)."""
    flags = {**NON_INTERACTIVE, **overrides}
    return ["new", name, *[item for pair in flags.items() for item in pair]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(project_dir: Path, system: bool = True, ready_timeout: float = 90) -> Iterator[tuple[str, int]]:
    """Run `dspy-cli serve --mock-lm` in the project (with `--system` unless told otherwise, to
    test the venv detection); yield its base URL and the server's pid."""
    port = free_port()
    log = open(project_dir / "serve.log", "w")  # noqa: SIM115 - closed in finally
    where = ["--system"] if system else []
    proc = subprocess.Popen(
        [str(DSPY_CLI), "serve", *where, "--mock-lm", "--port", str(port), "--host", "127.0.0.1", "--no-save-openapi"],
        cwd=project_dir,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=clean_env(),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"serve exited with {proc.returncode}:\n{(project_dir / 'serve.log').read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise AssertionError(f"serve not ready:\n{(project_dir / 'serve.log').read_text()}")
            time.sleep(0.2)
        yield base, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
