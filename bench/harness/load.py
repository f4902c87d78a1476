"""Load with oha: closed loop, N connections, a fixed duration, JSON results.

With -z, requests still in flight at the deadline are cancelled ("aborted due to deadline"); they are
not errors, and requests/s counts only completed ones.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .servers import QUESTION

DEADLINE_ABORT = "aborted due to deadline"


@dataclass
class LoadSpec:
    url: str
    clients: int
    seconds: float


def _argv(oha: Path, spec: LoadSpec) -> list[str]:
    return [
        str(oha),
        "--no-tui",
        "--output-format",
        "json",
        "-z",
        f"{spec.seconds}s",
        "-c",
        str(spec.clients),
        "-m",
        "POST",
        "-H",
        "content-type: application/json",
        "-d",
        json.dumps({"question": QUESTION}),
        spec.url,
    ]


def run_concurrently(oha: Path, specs: list[LoadSpec], workdir: Path, cpus: str | None = None) -> list[dict]:
    """Start one oha per spec at the same moment, wait for all; one summary per spec (same order)."""
    workdir.mkdir(parents=True, exist_ok=True)
    running = []
    for i, spec in enumerate(specs):
        argv = _argv(oha, spec)
        if cpus:
            argv = ["taskset", "-c", cpus, *argv]
        out_path = workdir / f"oha-{i}.json"
        # The child keeps its own copies of the descriptors; ours close when the block ends.
        with open(out_path, "wb") as out, open(workdir / f"oha-{i}.err", "wb") as err:
            popen = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        running.append((spec, popen, out_path))
    results = []
    for spec, popen, out_path in running:
        # wait4 gives oha's own CPU time: a load generator near 100% of a core would cap the numbers.
        _, status, usage = os.wait4(popen.pid, 0)
        popen.returncode = os.waitstatus_to_exitcode(status)
        if popen.returncode != 0:
            raise RuntimeError(f"oha failed ({popen.returncode}): {(out_path.with_suffix('.err')).read_text()[-2000:]}")
        summary = summarize(json.loads(out_path.read_text()), spec)
        summary["oha_cpu_s"] = round(usage.ru_utime + usage.ru_stime, 3)
        results.append(summary)
    return results


def run(oha: Path, spec: LoadSpec, workdir: Path, cpus: str | None = None) -> dict:
    return run_concurrently(oha, [spec], workdir, cpus)[0]


def summarize(report: dict, spec: LoadSpec) -> dict:
    """The figures we keep from oha's JSON: rps of 200s, latency percentiles (ms), errors by kind."""
    statuses = {str(k): int(v) for k, v in (report.get("statusCodeDistribution") or {}).items()}
    errors = {str(k): int(v) for k, v in (report.get("errorDistribution") or {}).items()}
    aborted_at_deadline = errors.pop(DEADLINE_ABORT, 0)
    ok = statuses.get("200", 0)
    non_200 = sum(v for k, v in statuses.items() if k != "200")
    percentiles = report.get("latencyPercentiles") or {}
    return {
        "url": spec.url,
        "clients": spec.clients,
        "seconds": spec.seconds,
        "ok": ok,
        "rps": ok / spec.seconds,
        "oha_rps": report["summary"].get("requestsPerSec"),
        "p50_ms": _ms(percentiles.get("p50")),
        "p95_ms": _ms(percentiles.get("p95")),
        "p99_ms": _ms(percentiles.get("p99")),
        "max_ms": _ms(report["summary"].get("slowest")),
        "non_200": non_200,
        "statuses": statuses,
        "transport_errors": errors,
        "errors": non_200 + sum(errors.values()),
        "aborted_at_deadline": aborted_at_deadline,
    }


def _ms(seconds) -> float | None:
    return None if seconds is None else round(1000 * seconds, 2)
