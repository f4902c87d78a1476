"""One measurement: one server (or the floor), one scenario, one LM delay, one client count, one repetition.

Each run gets a fresh server process and an empty logs dir, so runs do not inherit each other's warm
caches, queues or log files; the mock LMs live for the whole benchmark (one per delay).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import checks, load, procs, profile, servers

SCENARIOS = ["sync", "async", "mixed", "nolm"]
SAMPLE_PER_ENDPOINT = 20
DRAIN_MAX_S = 60.0  # upstream's 6-thread pool can hold 100 abandoned 500 ms requests: ~9 s


@dataclass(frozen=True)
class Cell:
    scenario: str
    delay_ms: int
    clients: int

    @property
    def label(self) -> str:
        if self.scenario == "nolm":
            return f"nolm c={self.clients}"
        return f"{self.scenario} {self.delay_ms}ms c={self.clients}"


@dataclass
class Settings:
    oha: Path
    ctx: servers.Context
    seconds: float
    warmup_s: float
    workroot: Path
    mocks: dict  # delay_ms -> procs.Proc (with extra["api_base"])
    ports: procs.PortAllocator
    load_cpus: str | None  # taskset for oha, or None
    floor_python: Path
    profile_dir: Path | None = None  # --profile: flame graphs and phase tables of `ours` go here


def endpoint_loads(cell: Cell, base_url: str, seconds: float) -> list[load.LoadSpec]:
    """Mixed: half the clients on each program, at the same time (sync load must not starve async)."""
    if cell.scenario == "mixed":
        half = cell.clients // 2
        return [
            load.LoadSpec(f"{base_url}/SyncPredict", cell.clients - half, seconds),
            load.LoadSpec(f"{base_url}/AsyncPredict", half, seconds),
        ]
    return [load.LoadSpec(f"{base_url}/{servers.ENDPOINTS[cell.scenario]}", cell.clients, seconds)]


def program_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


# ---------------------------------------------------------------- a server


def run_server(name: str, cell: Cell, rep: int, s: Settings) -> dict:
    workdir = s.workroot / f"{cell.scenario}-{cell.delay_ms}-{cell.clients}-{name}-{rep}"
    mock = s.mocks[cell.delay_ms]
    server = servers.start(name, s.ctx, s.ports.take(), mock.extra["api_base"], workdir, cell.clients)
    ok_by_program = dict(server.posts_ok)
    try:
        time.sleep(0.5)  # let post-ready work settle before reading "idle" memory
        idle_rss = procs.rss_mb(server.proc.pid)
        phases = _load_phases(cell, server, s, ok_by_program)
        peak_rss = procs.peak_rss_mb(server.proc.pid)
        threads = procs.thread_count(server.proc.pid)
        samples = _sample_answers(cell, server, ok_by_program)
    finally:
        stop_s = procs.stop(server.proc)
    result = {
        "server": name,
        **asdict(cell),
        "rep": rep,
        "startup": {k: round(v, 4) for k, v in server.startup.items()},
        "idle_rss_mb": round(idle_rss, 1),
        "peak_rss_mb": round(peak_rss, 1),
        "threads_after_load": threads,
        "stop_s": stop_s,
        **phases,
        "answer_checks": samples,
    }
    if servers.is_dspy_cli(name):
        # Logs are complete once the server has exited (ours may write them from a background queue).
        logs = server.workdir / "logs"
        result["answer_checks"] += [checks.check_log(logs, p, n) for p, n in sorted(ok_by_program.items())]
    result["mismatches"] = sum(
        c.get("mismatches", 0) + c.get("invalid", 0) + c.get("failed", 0) for c in result["answer_checks"]
    )
    result["log_lines_lost"] = sum(c.get("lost", 0) for c in result["answer_checks"])
    return result


def _load_phases(cell: Cell, server: servers.Running, s: Settings, ok_by_program: dict) -> dict:
    """Warm-up (not measured), for mixed the async-alone baseline, then the measured load."""
    out: dict = {}
    workdir = server.proc.log_path.parent
    pid = server.proc.pid
    if s.warmup_s > 0:
        warmup = load.run_concurrently(
            s.oha, endpoint_loads(cell, server.base_url, s.warmup_s), workdir / "warmup", s.load_cpus
        )
        _count_ok(warmup, ok_by_program)
        out["drain_after_warmup_s"] = round(procs.wait_idle(pid, DRAIN_MAX_S), 2)
    if cell.scenario == "mixed":
        # Baseline for the starvation ratio: async alone at the same per-endpoint concurrency.
        spec = load.LoadSpec(f"{server.base_url}/AsyncPredict", cell.clients // 2, s.seconds)
        alone = load.run(s.oha, spec, workdir / "alone", s.load_cpus)
        _count_ok([alone], ok_by_program)
        out["async_alone"] = alone
        out["drain_after_alone_s"] = round(procs.wait_idle(pid, DRAIN_MAX_S), 2)
    out.update(_measured(cell, server, s, ok_by_program, workdir / "load"))
    if s.profile_dir is not None and server.name == "ours":
        # After the measured load, so profiling never changes the measured figures.
        procs.wait_idle(pid, DRAIN_MAX_S)
        out["profile"] = profile.record(
            server, lambda secs: endpoint_loads(cell, server.base_url, secs), s, workdir, cell.label, s.profile_dir
        )
    return out


def _measured(cell: Cell, server: servers.Running, s: Settings, ok_by_program: dict, workdir: Path) -> dict:
    """The measured load, with the server's, the mock's and the whole machine's CPU around it."""
    mock = s.mocks[cell.delay_ms]
    pid = server.proc.pid
    threads0 = procs.cpu_by_thread_name(pid)
    cpu0, mock0, busy0, load_avg = (
        procs.cpu_seconds(pid),
        procs.cpu_seconds(mock.pid),
        procs.machine_busy_seconds(),
        procs.loadavg(),
    )
    results = load.run_concurrently(s.oha, endpoint_loads(cell, server.base_url, s.seconds), workdir, s.load_cpus)
    cpu1, mock1, busy1 = procs.cpu_seconds(pid), procs.cpu_seconds(mock.pid), procs.machine_busy_seconds()
    threads1 = procs.cpu_by_thread_name(pid)
    _count_ok(results, ok_by_program)
    server_cpu, mock_cpu = cpu1 - cpu0, mock1 - mock0
    oha_cpu = sum(r["oha_cpu_s"] for r in results)
    ok = sum(r["ok"] for r in results)
    return {
        "endpoints": {program_of(r["url"]): r for r in results},
        "rps": sum(r["rps"] for r in results),
        "ok": ok,
        "errors": sum(r["errors"] for r in results),
        "server_cpu_s": round(server_cpu, 3),
        "cpu_ms_per_req": round(1000 * server_cpu / ok, 4) if ok else None,
        "cpu_ms_per_req_by_thread": _per_thread(threads0, threads1, ok),
        "mock_cpu_s": round(mock_cpu, 3),
        "oha_cpu_s": round(oha_cpu, 3),
        # CPU the machine spent on anything else during the run: other users of the box add noise.
        **_other_load(busy1 - busy0 - server_cpu - mock_cpu - oha_cpu, s.seconds),
        "loadavg_before": load_avg,
    }


def _per_thread(before: dict, after: dict, ok: int) -> dict:
    """ms of CPU per request for each thread name that used any (threads that exited are not seen)."""
    if not ok:
        return {}
    deltas = {name: after[name] - before.get(name, 0.0) for name in after}
    return {name: round(1000 * d / ok, 4) for name, d in sorted(deltas.items(), key=lambda x: -x[1]) if d > 0}


def _other_load(other_cpu_s: float, wall_s: float) -> dict:
    return {
        "other_cpu_s": round(other_cpu_s, 3),
        "other_pct": round(max(0.0, 100 * other_cpu_s / (wall_s * (os.cpu_count() or 1))), 1),
    }


def _count_ok(results: list[dict], ok_by_program: dict) -> None:
    for r in results:
        program = program_of(r["url"])
        ok_by_program[program] = ok_by_program.get(program, 0) + r["ok"]


def _sample_answers(cell: Cell, server: servers.Running, ok_by_program: dict) -> list[dict]:
    samples = []
    for spec in endpoint_loads(cell, server.base_url, 0):
        program = program_of(spec.url)
        sample = checks.check_sample(server.base_url, program, SAMPLE_PER_ENDPOINT)
        ok_by_program[program] = ok_by_program.get(program, 0) + sample["ok"]
        samples.append(sample)
    return samples


# ---------------------------------------------------------------- the floor


def run_floor(cell: Cell, rep: int, s: Settings, cpus: str | None) -> dict:
    """bench/floor.py in its own interpreter: pure DSPy calls/s, same mock, same concurrency."""
    argv = [
        str(s.floor_python),
        str(s.ctx.bench_dir / "floor.py"),
        "--api-base",
        s.mocks[cell.delay_ms].extra["api_base"],
        "--mode",
        cell.scenario,
        "--concurrency",
        str(cell.clients),
        "--duration",
        str(s.seconds),
        "--warmup",
        str(s.warmup_s),
    ]
    if cpus:
        argv = ["taskset", "-c", cpus, *argv]
    mock = s.mocks[cell.delay_ms]
    out_path = s.workroot / f"floor-{cell.scenario}-{cell.delay_ms}-{cell.clients}-{rep}"
    busy0, mock0, t0 = procs.machine_busy_seconds(), procs.cpu_seconds(mock.pid), time.monotonic()
    with open(f"{out_path}.json", "wb") as out, open(f"{out_path}.err", "wb") as err:
        popen = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(popen.pid, 0)  # with the floor's own CPU, to tell other load apart
        popen.returncode = os.waitstatus_to_exitcode(status)
    wall, floor_cpu = time.monotonic() - t0, usage.ru_utime + usage.ru_stime
    other = procs.machine_busy_seconds() - busy0 - floor_cpu - (procs.cpu_seconds(mock.pid) - mock0)
    if popen.returncode != 0:
        raise RuntimeError(f"floor.py failed:\n{Path(f'{out_path}.err').read_text()[-3000:]}")
    floor = json.loads(Path(f"{out_path}.json").read_text().strip().splitlines()[-1])
    return {
        "server": "floor",
        **asdict(cell),
        "rep": rep,
        "rps": floor["calls_per_s"],
        "ok": floor["calls"],
        "errors": floor["errors"],
        "mismatches": floor["wrong_answers"],
        "p50_ms": floor["p50_ms"],
        "p95_ms": floor["p95_ms"],
        "p99_ms": floor["p99_ms"],
        "cpu_ms_per_req": floor["cpu_ms_per_call"],
        **_other_load(other, wall),
        "floor": floor,
    }


def harness_python() -> Path:
    return Path(sys.executable)
