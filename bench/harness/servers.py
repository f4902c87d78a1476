"""The servers under test, all serving bench/fixture against the same mock LM.

- ours:            dspy-cli-rs (`dspy-cli serve --no-reload`: one process, default config).
- ours-w2:         dspy-cli-rs with `--workers 2` (a supervisor and 2 worker processes; optional).
- upstream:        dspy-cli 0.1.13 from PyPI, default config (min(32, cpu+4) = 6 sync threads here).
- upstream-sw200:  dspy-cli 0.1.13 with --sync-workers 200 (the most it allows).
- recipe:          FastAPI + dspy.asyncify as in DSPy's deployment tutorial (bench/recipe_server.py), 1 uvicorn worker.
- recipe-w2:       the same with 2 uvicorn workers (optional; not in the default set).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from . import procs

QUESTION = "q"
# scenario -> program endpoint; mixed uses sync and async together.
ENDPOINTS = {"sync": "SyncPredict", "async": "AsyncPredict", "nolm": "NoLM"}
# What each program answers: the mock echoes the model name it was called with, so a wrong routing
# (e.g. AsyncPredict answered by the default LM) shows up as a wrong answer.
EXPECTED_ANSWER = {"SyncPredict": "model=gpt-4o-mini", "AsyncPredict": "model=gpt-4.1-mini", "NoLM": QUESTION[::-1]}

ALL_SERVERS = ["ours", "ours-w2", "upstream", "upstream-sw200", "recipe", "recipe-w2"]
DEFAULT_SERVERS = ["ours", "upstream", "upstream-sw200", "recipe"]
UPSTREAM_SERVERS = {"upstream", "upstream-sw200", "recipe", "recipe-w2"}  # need the upstream venv

READY_TIMEOUT_S = 120.0
POLL_INTERVAL_S = 0.01
BROKEN_AFTER_S = 5.0


@dataclass
class Context:
    bench_dir: Path
    ours_bin: Path
    upstream_venv: Path | None
    cpus: str | None  # taskset list for servers, or None
    ours_env: dict  # extra environment for our binary (the frozen copy of our build)


@dataclass
class Running:
    name: str
    proc: procs.Proc
    base_url: str
    workdir: Path
    startup: dict  # seconds from exec: live, ready, first_answer
    posts_ok: dict  # endpoint -> 200s the harness itself got (probes), for the log line count


def is_dspy_cli(name: str) -> bool:
    """dspy-cli servers (ours and upstream) write logs/<Program>.log; the recipe does not."""
    return name in ("ours", "ours-w2", "upstream", "upstream-sw200")


def prepare_project(fixture: Path, workdir: Path, api_base: str, literal_api_base: bool) -> Path:
    """A fresh copy of the fixture (so logs start empty). Upstream has no ${{ env.X }}: write the URL in."""
    project = workdir / "project"
    (project / "logs").mkdir(parents=True)
    config = (fixture / "dspy.config.yaml").read_text()
    if literal_api_base:
        config = config.replace("${{ env.BENCH_API_BASE }}", api_base)
    (project / "dspy.config.yaml").write_text(config)
    _copy_tree(fixture / "src", project / "src")
    return project


def _copy_tree(src: Path, dst: Path) -> None:
    for path in src.rglob("*"):
        if "__pycache__" in path.parts:
            continue
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())


def command(name: str, ctx: Context, port: int, clients: int) -> tuple[list[str], dict]:
    """argv and extra environment for one server."""
    common = ["--host", "127.0.0.1", "--port", str(port), "--no-save-openapi", "--logs-dir", "logs"]
    if name == "ours":
        return [str(ctx.ours_bin), "serve", "--system", "--no-reload", *common], dict(ctx.ours_env)
    if name == "ours-w2":
        return [str(ctx.ours_bin), "serve", "--system", "--no-reload", "--workers", "2", *common], dict(ctx.ours_env)
    upstream_bin = str(ctx.upstream_venv / "bin" / "dspy-cli")
    if name == "upstream":
        return [upstream_bin, "serve", "--system", "--no-reload", *common], {}
    if name == "upstream-sw200":
        return [upstream_bin, "serve", "--system", "--no-reload", *common, "--sync-workers", "200"], {}
    if name in ("recipe", "recipe-w2"):
        workers = "2" if name == "recipe-w2" else "1"
        argv = [
            str(ctx.upstream_venv / "bin" / "python"),
            "-m",
            "uvicorn",
            "recipe_server:app",
            "--app-dir",
            str(ctx.bench_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            workers,
        ]
        # The tutorial sizes async_max_workers (asyncify's thread limit) by hand; give it one per client.
        return argv, {"BENCH_ASYNC_MAX_WORKERS": str(max(clients, 1))}
    raise ValueError(f"unknown server {name!r}; choose from {', '.join(ALL_SERVERS)}")


def start(name: str, ctx: Context, port: int, api_base: str, workdir: Path, clients: int) -> Running:
    fixture = ctx.bench_dir / "fixture"
    if is_dspy_cli(name):
        cwd = prepare_project(fixture, workdir, api_base, literal_api_base=not name.startswith("ours"))
    else:
        cwd = workdir
        cwd.mkdir(parents=True, exist_ok=True)
    argv, extra_env = command(name, ctx, port, clients)
    env = {**os.environ, "BENCH_API_BASE": api_base, **extra_env}
    proc = procs.spawn(name, argv, cwd, env, workdir / "server.out", cpus=ctx.cpus)
    running = Running(name, proc, f"http://127.0.0.1:{port}", cwd, {}, {})
    try:
        running.startup = _wait_until_serving(running, has_health=is_dspy_cli(name))
    except Exception:
        procs.stop(proc, grace_s=2)
        raise
    return running


def _wait_until_serving(server: Running, has_health: bool) -> dict:
    """Seconds from exec to the first 200 on /health/live, on /health/ready, and on a POST.

    The recipe has no health routes (the tutorial has none): its three times are its first answer.
    """
    t0, deadline = server.proc.started_at, server.proc.started_at + READY_TIMEOUT_S
    times: dict[str, float] = {}
    with httpx.Client(base_url=server.base_url, timeout=2.0) as client:
        steps = [("live", "GET", "/health/live"), ("ready", "GET", "/health/ready")] if has_health else []
        steps.append(("first_answer", "POST", "/NoLM"))
        for key, method, path in steps:
            first_error_at = None
            while True:
                if not server.proc.alive():
                    raise RuntimeError(f"{server.name} exited during startup:\n{server.proc.output_tail()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{server.name} not serving after {READY_TIMEOUT_S}s:\n{server.proc.output_tail()}"
                    )
                status = _status(client, method, path)
                if status == 200:
                    times[key] = time.monotonic() - t0
                    break
                # 5xx on a POST for seconds (after ready) means a broken server, not a slow start: fail fast.
                # (/health/ready answers 503 while loading, which is normal.)
                if method == "POST" and status is not None and status >= 500:
                    first_error_at = first_error_at or time.monotonic()
                    if time.monotonic() - first_error_at > BROKEN_AFTER_S:
                        raise RuntimeError(f"{server.name} answers {status} on {path}:\n{server.proc.output_tail(10)}")
                time.sleep(POLL_INTERVAL_S)
    server.posts_ok["NoLM"] = server.posts_ok.get("NoLM", 0) + 1
    times.setdefault("live", times["first_answer"])
    times.setdefault("ready", times["first_answer"])
    return times


def _status(client: httpx.Client, method: str, path: str) -> int | None:
    """HTTP status, or None while nothing answers yet."""
    try:
        body = {"question": QUESTION} if method == "POST" else None
        return client.request(method, path, json=body).status_code
    except httpx.HTTPError:
        return None
