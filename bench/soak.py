"""Soak test: one dspy-cli-rs process, a million no-LM requests; memory and latency must not drift.

    .venv/bin/python bench/soak.py                      # 1,000,000 requests (make soak)
    .venv/bin/python bench/soak.py --requests 200000    # a shorter run

The load (oha, closed loop, `--clients` connections) is sent in chunks of `--chunk` requests after a
warm-up of `--warmup` requests. After each chunk the server's RSS and the chunk's latency
percentiles are printed. Pass criteria (exit 1 if missed):

- RSS after the warm-up vs at the end grows by less than 20 MB;
- p99 latency of the last chunk is within 1.5x of the first chunk's;
- every request answered 200, and the log holds one line per request.

Results also go to bench/results/soak-<timestamp>.json (not in git).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from harness import procs, servers, tools  # noqa: E402

MAX_RSS_GROWTH_MB = 20.0
MAX_P99_RATIO = 1.5


def oha_chunk(oha: Path, url: str, requests: int, clients: int) -> dict:
    argv = [
        str(oha),
        "--no-tui",
        "--output-format",
        "json",
        "-n",
        str(requests),
        "-c",
        str(clients),
        "-m",
        "POST",
        "-H",
        "content-type: application/json",
        "-d",
        json.dumps({"question": servers.QUESTION}),
        url,
    ]
    report = json.loads(subprocess.run(argv, check=True, capture_output=True, stdin=subprocess.DEVNULL).stdout)
    statuses = {str(k): int(v) for k, v in (report.get("statusCodeDistribution") or {}).items()}
    percentiles = report.get("latencyPercentiles") or {}
    return {
        "requests": requests,
        "ok": statuses.get("200", 0),
        "statuses": statuses,
        "errors": report.get("errorDistribution") or {},
        "rps": report["summary"].get("requestsPerSec"),
        "p50_ms": (percentiles.get("p50") or 0) * 1000,
        "p99_ms": (percentiles.get("p99") or 0) * 1000,
    }


def start_server(project: Path, port: int, log_path: Path) -> procs.Proc:
    argv = [
        str(Path(sys.executable).with_name("dspy-cli")),
        "serve",
        "--system",
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        "--no-save-openapi",
        "--no-reload",
    ]
    env = {**os.environ, "BENCH_API_BASE": "http://127.0.0.1:9/v1", "DSPY_CLI_LOG": "warn"}
    server = procs.spawn("ours", argv, project, env, log_path)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if not server.alive():
            break
        time.sleep(0.2)
    raise SystemExit(f"server did not start:\n{server.output_tail()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1_000_000, help="measured requests (after the warm-up)")
    parser.add_argument("--chunk", type=int, default=100_000, help="requests per measured chunk")
    parser.add_argument("--warmup", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--oha", help="path to oha (default: found or built as for make bench)")
    args = parser.parse_args()
    oha = tools.ensure_oha(BENCH_DIR, args.oha)
    workdir = Path(tempfile.mkdtemp(prefix="dspy-soak-"))
    project = servers.prepare_project(BENCH_DIR / "fixture", workdir, "unused", literal_api_base=False)
    port = procs.PortAllocator(18500).take()
    server = start_server(project, port, workdir / "server.log")
    url = f"http://127.0.0.1:{port}/NoLM"
    try:
        warmup = oha_chunk(oha, url, args.warmup, args.clients)
        rss_after_warmup = procs.rss_mb(server.pid)
        print(f"warm-up: {args.warmup} requests, {warmup['rps']:.0f} req/s; RSS {rss_after_warmup:.1f} MB", flush=True)
        chunks = []
        for index in range(max(1, args.requests // args.chunk)):
            chunk = oha_chunk(oha, url, args.chunk, args.clients)
            chunk["rss_mb"] = procs.rss_mb(server.pid)
            chunks.append(chunk)
            print(
                f"chunk {index + 1}: {chunk['ok']}/{chunk['requests']} ok, {chunk['rps']:.0f} req/s, "
                f"p50 {chunk['p50_ms']:.2f} ms, p99 {chunk['p99_ms']:.2f} ms, RSS {chunk['rss_mb']:.1f} MB",
                flush=True,
            )
        log_lines = sum(1 for _ in (project / "logs" / "NoLM.log").open("rb"))
    finally:
        procs.stop(server)
    total = args.warmup + sum(c["requests"] for c in chunks)
    growth = chunks[-1]["rss_mb"] - rss_after_warmup
    ratio = chunks[-1]["p99_ms"] / chunks[0]["p99_ms"] if chunks[0]["p99_ms"] else float("inf")
    all_ok = warmup["ok"] + sum(c["ok"] for c in chunks) == total
    checks = {
        f"RSS growth {growth:.1f} MB < {MAX_RSS_GROWTH_MB} MB": growth < MAX_RSS_GROWTH_MB,
        f"p99 last/first chunk {ratio:.2f}x <= {MAX_P99_RATIO}x": ratio <= MAX_P99_RATIO,
        f"all {total} requests answered 200": all_ok,
        f"{log_lines} log lines == {total} requests": log_lines == total,
    }
    for text, passed in checks.items():
        print(f"{'PASS' if passed else 'FAIL'}  {text}")
    results = BENCH_DIR / "results"
    results.mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    record = {
        "args": vars(args),
        "warmup": warmup,
        "rss_after_warmup_mb": rss_after_warmup,
        "chunks": chunks,
        "log_lines": log_lines,
        "checks": checks,
    }
    (results / f"soak-{stamp}.json").write_text(json.dumps(record, indent=2))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
