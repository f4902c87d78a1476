"""A/B two builds of our server in one run: A B, then B A, ... on the same mock LM.

For a Rust change: keep the old build's `_native.abi3.so`, rebuild, and compare both in one run,
so load from other work on the box hits both alike. Such a variant runs the checkout's Python
runtime with its own native module (copied, like run.py's frozen build). For a Python change,
name a copy of the whole old `dspy_cli` package directory instead (its own `.so` inside).

    python bench/ab.py --variant old=/tmp/old.so --variant new=python/dspy_cli/_native.abi3.so \\
        --programs NoLM,SyncPredict --reps 2 --duration 5 --clients 50
    cp -r python/dspy_cli /tmp/old-pkg   # before the Python change, after `make build-release`
    python bench/ab.py --variant old=/tmp/old-pkg --variant new=python/dspy_cli

To compare settings of one build, give the same build twice with `--env`:

    python bench/ab.py --variant w32=python/dspy_cli --variant w128=python/dspy_cli \\
        --env w32:DSPY_CLI_SYNC_WORKERS=32 --programs SyncPredict
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from harness import load, procs, servers, tools  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--variant",
        action="append",
        required=True,
        help="NAME=path/to/_native.abi3.so or NAME=path/to/dspy_cli package dir (two or more)",
    )
    p.add_argument("--env", action="append", default=[], help="NAME:KEY=VALUE, an environment variable for one variant")
    p.add_argument("--programs", default="NoLM,SyncPredict", help="fixture programs to load, in order")
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--delay-ms", type=int, default=50)
    p.add_argument("--base-port", type=int, default=19700)
    args = p.parse_args()
    variants = dict(v.split("=", 1) for v in args.variant)
    ours_bin = Path(sys.executable).parent / "dspy-cli"
    package = tools.ours_package_dir(ours_bin)
    oha = tools.ensure_oha(BENCH_DIR, None)
    root = Path(tempfile.mkdtemp(prefix="dspy-ab-"))
    envs = {}
    for name, build in variants.items():
        dest = root / name / "dspy_cli"
        whole_package = Path(build).is_dir()
        shutil.copytree(build if whole_package else package, dest, ignore=shutil.ignore_patterns("__pycache__"))
        if not whole_package:
            shutil.copy(build, dest / "_native.abi3.so")
        envs[name] = {"PYTHONPATH": str(root / name)}
    for setting in args.env:
        name, assignment = setting.split(":", 1)
        key, value = assignment.split("=", 1)
        envs[name][key] = value
    ports = procs.PortAllocator(args.base_port)
    mock_port = ports.take()
    argv = [str(ours_bin), "mock-lm", "--port", str(mock_port), "--delay-ms", str(args.delay_ms)]
    mock = procs.spawn("mock", argv, root, dict(os.environ), root / "mock.out")
    api_base = f"http://127.0.0.1:{mock_port}/v1"
    rows: dict[tuple[str, str], list[dict]] = {}
    try:
        for rep in range(args.reps):
            for name in list(variants) if rep % 2 == 0 else list(reversed(variants)):
                ctx = servers.Context(BENCH_DIR, ours_bin, None, None, envs[name])
                workdir = root / f"{name}-{rep}"
                server = servers.start("ours", ctx, ports.take(), api_base, workdir, args.clients)
                try:
                    for program in args.programs.split(","):
                        url = f"{server.base_url}/{program}"
                        load.run(oha, load.LoadSpec(url, args.clients, 1.5), workdir / f"warmup-{program}")
                        procs.wait_idle(server.proc.pid, 20)
                        cpu0 = procs.cpu_seconds(server.proc.pid)
                        result = load.run(oha, load.LoadSpec(url, args.clients, args.duration), workdir / program)
                        cpu = procs.cpu_seconds(server.proc.pid) - cpu0
                        row = {
                            "rps": result["rps"],
                            "cpu_ms": 1000 * cpu / max(result["ok"], 1),
                            "p95": result["p95_ms"],
                            "p99": result["p99_ms"],
                        }
                        rows.setdefault((program, name), []).append(row)
                        print(f"{program} {name} rep {rep + 1}: {row}", flush=True)
                finally:
                    procs.stop(server.proc)
    finally:
        procs.stop(mock)
        shutil.rmtree(root, ignore_errors=True)
    print("\n| program | build | req/s | CPU ms/req | p95 ms | p99 ms |\n|---|---|---|---|---|---|")
    for (program, name), runs in sorted(rows.items()):
        med = {k: statistics.median(r[k] or 0 for r in runs) for k in ("rps", "cpu_ms", "p95", "p99")}
        print(f"| {program} | {name} | {med['rps']:,.0f} | {med['cpu_ms']:.3f} | {med['p95']:.1f} | {med['p99']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
