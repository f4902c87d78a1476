"""The floor: how many fixture program calls per second pure DSPy makes in one interpreter, no server.

No server can beat this by much on the same machine, since it pays the same DSPy + LiteLLM cost per
call without any HTTP in front. Closed loop, like oha -c N:
- sync path:  N threads, each calling SyncPredict() in a loop (what a thread-pool server does);
- async path: N coroutines on one event loop, each awaiting AsyncPredict().acall() in a loop.

    python bench/floor.py --api-base http://127.0.0.1:PORT/v1 --mode sync --concurrency 100 --duration 10

Prints one JSON object (calls/s, latency percentiles, CPU ms per call, wrong answers).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dspy

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixture" / "src"))
from bench_app.modules.programs import AsyncPredict, SyncPredict

EXPECTED = {"sync": "model=gpt-4o-mini", "async": "model=gpt-4.1-mini"}


class Tally:
    """Calls finished before the deadline; thread-safe because the sync path shares it between threads."""

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.latencies: list[float] = []
        self.errors = 0
        self.wrong = 0
        self.lock = threading.Lock()

    def record(self, started: float, answer: str | None, expected: str) -> None:
        now = time.monotonic()
        if now > self.deadline:  # in flight at the deadline: not counted, like oha -z
            return
        with self.lock:
            if answer is None:
                self.errors += 1
            else:
                self.latencies.append(now - started)
                self.wrong += answer != expected


def make_lm(api_base: str, model: str) -> dspy.LM:
    return dspy.LM(model, api_base=api_base, api_key="bench-key", cache=False, max_tokens=1000)


def sync_phase(program, concurrency: int, seconds: float) -> Tally:
    tally = Tally(time.monotonic() + seconds)

    def worker():
        while time.monotonic() < tally.deadline:
            started = time.monotonic()
            try:
                answer = program(question="q").answer
            except Exception:
                answer = None
            tally.record(started, answer, EXPECTED["sync"])

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for _ in range(concurrency):
            pool.submit(worker)
    return tally


async def async_phase(program, lm, concurrency: int, seconds: float) -> Tally:
    tally = Tally(time.monotonic() + seconds)

    async def worker():
        while time.monotonic() < tally.deadline:
            started = time.monotonic()
            try:
                answer = (await program.acall(question="q")).answer
            except Exception:
                answer = None
            tally.record(started, answer, EXPECTED["async"])

    with dspy.context(lm=lm):  # as the servers do for AsyncPredict (program_models)
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return tally


def run_phase(args, seconds: float) -> Tally:
    if args.mode == "sync":
        return sync_phase(args.program, args.concurrency, seconds)
    return asyncio.run(async_phase(args.program, args.async_lm, args.concurrency, seconds))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(sorted_values: list[float], p: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(p / 100 * len(sorted_values)))]


def summarize(tally: Tally, seconds: float, cpu_s: float, args) -> dict:
    lat = sorted(tally.latencies)
    calls = len(lat)
    return {
        "mode": args.mode,
        "concurrency": args.concurrency,
        "duration_s": seconds,
        "calls": calls,
        "calls_per_s": calls / seconds,
        "errors": tally.errors,
        "wrong_answers": tally.wrong,
        "p50_ms": _ms(percentile(lat, 50)),
        "p95_ms": _ms(percentile(lat, 95)),
        "p99_ms": _ms(percentile(lat, 99)),
        "cpu_s": cpu_s,
        "cpu_ms_per_call": 1000 * cpu_s / calls if calls else None,
        "python": sys.executable,
        "dspy": dspy.__version__,
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(1000 * seconds, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--api-base", default=os.environ.get("BENCH_API_BASE"), required="BENCH_API_BASE" not in os.environ
    )
    parser.add_argument("--mode", choices=["sync", "async"], required=True)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds run first and not counted")
    args = parser.parse_args()

    dspy.configure(lm=make_lm(args.api_base, "openai/gpt-4o-mini"))
    args.async_lm = make_lm(args.api_base, "openai/gpt-4.1-mini")
    args.program = SyncPredict() if args.mode == "sync" else AsyncPredict()

    if args.warmup > 0:
        run_phase(args, args.warmup)
    cpu_before = cpu_seconds()
    tally = run_phase(args, args.duration)
    print(json.dumps(summarize(tally, args.duration, cpu_seconds() - cpu_before, args)))


if __name__ == "__main__":
    main()
