"""Helpers for the end-to-end tests: the installed dspy-cli binary, a mock LM, real server processes.

The one helper module for every test folder (tests/scaffold/ imports it too). Every process these
helpers start is recorded, so the `reap_processes` fixture in tests/conftest.py can kill what a
failing test left running; `MockLM` and `Server` are also context managers.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

DSPY_CLI = str(Path(sys.executable).with_name("dspy-cli"))

DEFAULT_CONFIG = """
app_id: test-project
models:
  default: alpha
  registry:
    alpha:
      model: openai/gpt-4o-mini
      api_base: {api_base}
      api_key: test-key
      cache: false
      max_tokens: 1000
    beta:
      model: openai/gpt-4.1-mini
      api_base: {api_base}
      api_key: test-key
      cache: false
      max_tokens: 1000
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


# Processes started by the helpers, for `stop_started_since` (the reaping fixture).
_STARTED: list[subprocess.Popen[bytes]] = []


def stop_started_since(count: int) -> None:
    """Kill every helper-started process after the first `count` that is still running."""
    for process in _STARTED[count:]:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    del _STARTED[count:]


def started_count() -> int:
    return len(_STARTED)


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment without provider keys (so no key is "found in environment"), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(extra or {})
    return env


def run_cli(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run dspy-cli to completion in an environment without provider keys (`clean_env`); stdin
    is closed unless `input` is given."""
    return subprocess.run(
        [DSPY_CLI, *args],
        cwd=cwd,
        env=clean_env(env),
        capture_output=True,
        text=True,
        input=input,
        stdin=subprocess.DEVNULL if input is None else None,
        timeout=timeout,
    )


@dataclass
class MockLM:
    port: int
    process: subprocess.Popen

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def request_count(self) -> int:
        return httpx.get(f"http://127.0.0.1:{self.port}/stats").json()["requests"]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)

    # `with start_mock_lm(...) as lm:` stops the mock at the end of the block.
    def __enter__(self) -> MockLM:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_mock_lm(delay_ms: int = 10, error_rate: float = 0.0) -> MockLM:
    port = free_port()
    args = [DSPY_CLI, "mock-lm", "--port", str(port), "--delay-ms", str(delay_ms), "--error-rate", str(error_rate)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _STARTED.append(process)
    if not wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/health"), 20):
        process.kill()
        raise RuntimeError("mock LM did not start")
    return MockLM(port, process)


def make_project(
    root: Path,
    modules: dict[str, str],
    config: str,
    package: str = "testpkg",
    extra_files: dict[str, str] | None = None,
) -> Path:
    """Write a dspy-cli project: dspy.config.yaml + src/<package>/modules/<file>.py."""
    (root / "src" / package / "modules").mkdir(parents=True)
    (root / "src" / package / "__init__.py").write_text("")
    (root / "src" / package / "modules" / "__init__.py").write_text("")
    (root / "dspy.config.yaml").write_text(textwrap.dedent(config))
    for name, source in modules.items():
        (root / "src" / package / "modules" / name).write_text(textwrap.dedent(source))
    for name, text in (extra_files or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


@dataclass
class Server:
    root: Path
    port: int
    process: subprocess.Popen
    stdout_path: Path
    stderr_path: Path
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.url, timeout=60)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def stdout(self) -> str:
        return self.stdout_path.read_text()

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def log_lines(self, program: str) -> list[str]:
        path = self.logs / f"{program}.log"
        return path.read_text().splitlines() if path.exists() else []

    def post(self, path: str, body: object = None, **kwargs) -> httpx.Response:
        return self.client.post(path, json=body, **kwargs)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode

    # `with start_server(...) as server:` stops it (SIGKILL) at the end of the block.
    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop(signal.SIGKILL)


def start_server(
    root: Path,
    *args: str,
    wait_ready: bool = True,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    preexec_fn: Callable[[], object] | None = None,
    system: bool = True,
) -> Server:
    """Start `dspy-cli serve` in `root` on a free port and wait for it to be ready (or live);
    `system=False` leaves out `--system`, to test the project venv detection."""
    port = free_port()
    stdout_path, stderr_path = root / "server.stdout", root / "server.stderr"
    where = ["--system"] if system else []
    # One process unless the test asks for the supervisor (hot reload is the CLI's default).
    supervised = any(a in ("--reload", "--no-reload") or a.startswith("--workers") for a in args)
    single = [] if supervised else ["--no-reload"]
    command = [
        DSPY_CLI,
        "serve",
        *where,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-save-openapi",
        *single,
        *args,
    ]
    # The child keeps its own copies of the log descriptors; ours close when the block ends.
    with stdout_path.open("w") as stdout, stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            command,
            cwd=root,
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            # The whole environment (unlike run_cli): tests may set variables the server reads.
            env={**os.environ, **(env or {})},
            preexec_fn=preexec_fn,
        )
    _STARTED.append(process)
    server = Server(root, port, process, stdout_path, stderr_path)
    target = "/health/ready" if wait_ready else "/health/live"
    started = wait_until(lambda: process.poll() is not None or http_ok(server.url + target), timeout)
    if process.poll() is not None or not started:
        server.stop(signal.SIGKILL)
        raise RuntimeError(f"server did not start:\n{server.stdout()}\n{server.stderr()}")
    return server
