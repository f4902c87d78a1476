"""Benchmark dspy-cli-rs against dspy-cli 0.1.13, the FastAPI + dspy.asyncify recipe, and pure DSPy (the floor).

One command, one machine, one run: same fixture (bench/fixture), same mock LM (`dspy-cli mock-lm`), same
load generator (oha). Servers alternate within each scenario (A B C D, then D C B A, ...) so drift on
the machine spreads over all of them. Raw results go to bench/results/<timestamp>.json; a markdown
report with ratios goes to stdout.

    python bench/run.py                 # the issue's target table: LM 50 ms, 100 clients (no-LM: 50), 3 reps
    python bench/run.py --full          # plus LM 0/50/500 ms x 10/100 clients
    python bench/run.py --quick         # CI: ours only (+1 short upstream run if installed), 2 s runs

Exits non-zero only if the harness itself breaks (a server that cannot start counts), never on targets.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
import tempfile
import time
import traceback
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from harness import procs, report, runner, servers, tools  # noqa: E402
from harness.runner import SCENARIOS, Cell  # noqa: E402

DEFAULT_CELLS = [Cell("sync", 50, 100), Cell("async", 50, 100), Cell("mixed", 50, 100), Cell("nolm", 50, 50)]
FULL_DELAYS, FULL_CLIENTS = [0, 50, 500], [10, 100]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="CI smoke run: ours only, 10 clients, 50 ms, 2 s runs, 1 rep")
    p.add_argument("--full", action="store_true", help="add the whole delays x clients matrix to the target table")
    p.add_argument("--duration", type=float, help="seconds of measured load per run (default 10; quick 2)")
    p.add_argument("--warmup", type=float, help="seconds of unmeasured load first (default 2; quick 0.5)")
    p.add_argument("--reps", type=int, help="repetitions per scenario, medians reported (default 3; quick 1)")
    p.add_argument(
        "--servers",
        help=f"comma list from {','.join(servers.ALL_SERVERS)} (default: {','.join(servers.DEFAULT_SERVERS)})",
    )
    p.add_argument("--delays", help="comma list of mock LM delays in ms (gives a delays x clients matrix)")
    p.add_argument("--clients", help="comma list of client counts")
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma list from sync,async,mixed,nolm")
    p.add_argument("--no-floor", action="store_true", help="skip the pure-DSPy floor runs")
    p.add_argument("--ours-bin", default=str(Path(sys.executable).parent / "dspy-cli"), help="our dspy-cli binary")
    p.add_argument("--allow-debug-build", action="store_true", help="measure our server even if it is a debug build")
    p.add_argument("--no-freeze", action="store_true", help="run our build in place instead of a copy taken at start")
    p.add_argument("--oha", help="path to oha (default: .bench-tools/bin/oha, PATH, else cargo install)")
    p.add_argument("--pin", action="store_true", help="taskset: servers on CPU 1, mock LMs and oha on CPU 0")
    p.add_argument(
        "--quiet-wait",
        type=float,
        help="before each run, wait up to this many seconds for the box to be idle (<15%% busy); default 30, quick 0",
    )
    p.add_argument("--base-port", type=int, default=19600, help="ports used: base .. base+199")
    p.add_argument("--results-dir", default=str(BENCH_DIR / "results"))
    p.add_argument(
        "--profile",
        action="store_true",
        help="after each measured run of ours: py-spy flame graph (SVG) and CPU per request by phase (README: Profile)",
    )
    p.add_argument("--report", metavar="RESULTS_JSON", help="only print the report of a saved run")
    p.add_argument("--keep-workdirs", action="store_true", help="keep server output and logs (printed path)")
    args = p.parse_args(argv)
    quick = args.quick
    args.duration = args.duration or (2.0 if quick else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (0.5 if quick else 2.0)
    args.reps = args.reps or (1 if quick else 3)
    args.quiet_wait = args.quiet_wait if args.quiet_wait is not None else (0.0 if quick else 30.0)
    return args


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def build_cells(args) -> list[Cell]:
    """The target table by default; a delays x clients x scenarios matrix with --full/--delays/--clients."""
    scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if args.quick:
        delays, clients, base = _ints(args.delays or "50"), _ints(args.clients or "10"), []
    elif args.delays or args.clients:
        delays, clients, base = _ints(args.delays or "50"), _ints(args.clients or "100"), []
    else:
        delays, clients = (FULL_DELAYS, FULL_CLIENTS) if args.full else ([], [])
        base = list(DEFAULT_CELLS)
    cells = [c for c in base if c.scenario in scenarios]
    for delay in delays:
        for n in clients:
            for scenario in scenarios:
                # no-LM does not call the mock: one delay is enough.
                cell = Cell(scenario, delays[0] if scenario == "nolm" else delay, n)
                if cell not in cells:
                    cells.append(cell)
    return cells


def choose_servers(args) -> list[str]:
    if args.quick and not args.servers:
        return ["ours"]
    names = args.servers.split(",") if args.servers else list(servers.DEFAULT_SERVERS)
    unknown = set(names) - set(servers.ALL_SERVERS)
    if unknown:
        raise SystemExit(f"unknown servers: {', '.join(sorted(unknown))}")
    return names


def participants(cell: Cell, names: list[str], args, upstream_venv: Path | None, first_cell: bool) -> list[str]:
    """Who runs in this cell: the servers, plus the floor where it means something (sync and async)."""
    who = list(names)
    if args.quick and first_cell and upstream_venv:
        who.append("upstream")  # one short run so the upstream path of the harness cannot rot either
    if cell.scenario in ("sync", "async") and not args.no_floor:
        who.append("floor")
    return who


# ---------------------------------------------------------------- mocks


def start_mocks(
    delays: set[int], ours_bin: Path, env: dict, ports: procs.PortAllocator, workroot: Path, cpus: str | None
) -> dict:
    """One mock LM per delay for the whole run (Rust, low CPU); its CPU is measured per run anyway."""
    mocks = {}
    for delay in sorted(delays):
        port = ports.take()
        argv = [str(ours_bin), "mock-lm", "--port", str(port), "--delay-ms", str(delay)]
        mock = procs.spawn(f"mock-{delay}", argv, workroot, {**os.environ, **env}, workroot / f"mock-{delay}.out", cpus)
        mock.extra["api_base"] = f"http://127.0.0.1:{port}/v1"
        _wait_listening(mock, port)
        mocks[delay] = mock
    return mocks


def _wait_listening(proc: procs.Proc, port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited:\n{proc.output_tail()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"{proc.name} not listening on {port}")


# ---------------------------------------------------------------- the run


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def one_run(name: str, cell: Cell, rep: int, settings: runner.Settings, server_cpus: str | None) -> dict:
    if name == "floor":
        return runner.run_floor(cell, rep, settings, server_cpus)
    return runner.run_server(name, cell, rep, settings)


def progress_line(result: dict) -> str:
    parts = [f"{result['rps']:,.0f} req/s"]
    if result.get("cpu_ms_per_req") is not None:
        parts.append(f"{result['cpu_ms_per_req']:.3f} ms CPU/req")
    if result.get("errors"):
        parts.append(f"{result['errors']} errors")
    if result.get("mismatches"):
        parts.append(f"{result['mismatches']} WRONG ANSWERS")
    if result.get("other_pct") is not None:
        parts.append(f"other load {result['other_pct']:.0f}%")
    return ", ".join(parts)


def run_matrix(cells, names, args, settings, upstream_venv, server_cpus, save) -> list[dict]:
    results = []
    for i, cell in enumerate(cells):
        who = participants(cell, names, args, upstream_venv, first_cell=(i == 0))
        for rep in range(args.reps):
            # A B C D, then D C B A: alternating order spreads slow drift on the box over everyone.
            order = who if rep % 2 == 0 else list(reversed(who))
            for name in order:
                if args.quiet_wait > 0:
                    waited, busy = procs.wait_for_quiet(args.quiet_wait)
                    if busy > 0.15:
                        log(f"box still {busy:.0%} busy after waiting {waited:.0f}s; measuring anyway")
                log(f"{cell.label} rep {rep + 1}/{args.reps}: {name}")
                try:
                    result = one_run(name, cell, rep, settings, server_cpus)
                    log(f"  -> {progress_line(result)}")
                except Exception as e:  # keep going: one broken server must not lose the other results
                    result = {"server": name, **asdict(cell), "rep": rep, "failed": f"{type(e).__name__}: {e}"[-3000:]}
                    log(f"  -> FAILED: {result['failed']}")
                results.append(result)
                save(results)
    return results


def check_our_build(args, ours_bin: Path, workroot: Path, meta: dict) -> dict:
    """Freeze our build (unless --no-freeze) and refuse to benchmark a debug build outside --quick."""
    package, env = tools.ours_package_dir(ours_bin), {}
    if not args.no_freeze:
        env, package = tools.freeze_ours(package, workroot / "ours-build")
    meta["machine"]["ours_build"] = build = tools.native_build_kind(package)
    if build == "debug":
        message = f"our native module in {package} is a DEBUG build (make build); run make build-release"
        if not (args.quick or args.allow_debug_build):
            raise SystemExit(message + " (or pass --allow-debug-build)")
        log("warning: " + message + "; numbers are not representative")
    return env


def print_saved_report(path: str) -> int:
    saved = json.loads(Path(path).read_text())
    print(machine_line(saved["meta"]))
    print()
    print(report.render(saved["runs"]))
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.report:
        return print_saved_report(args.report)
    cells = build_cells(args)
    ours_bin = Path(args.ours_bin)
    if not ours_bin.exists():
        raise SystemExit(f"our dspy-cli not found at {ours_bin} (make build-release, or --ours-bin)")
    oha = tools.ensure_oha(BENCH_DIR, args.oha)
    wanted = choose_servers(args)
    needs_upstream = bool(servers.UPSTREAM_SERVERS & set(wanted))
    # Quick mode never installs upstream (CI time); it uses it only if it is already there.
    upstream_venv = tools.ensure_upstream_venv(BENCH_DIR) if needs_upstream else tools.find_upstream_venv(BENCH_DIR)
    server_cpus, load_cpus = ("1", "0") if args.pin else (None, None)

    started = datetime.now(timezone.utc)
    results_dir = Path(args.results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    out_path = results_dir / f"{started.strftime('%Y%m%dT%H%M%SZ')}{'-quick' if args.quick else ''}.json"
    meta = {
        "started": started.isoformat(),
        "args": dict(vars(args)),
        "cells": [c.label for c in cells],
        "servers": wanted,
        "machine": tools.machine_info(BENCH_DIR, ours_bin, oha, upstream_venv),
        "loadavg_at_start": procs.loadavg(),
    }
    if meta["loadavg_at_start"] > 1.0:
        log(f"warning: load average {meta['loadavg_at_start']} at start; numbers will be noisy")

    def save(results):
        out_path.write_text(json.dumps({"meta": meta, "runs": results}, indent=1))

    workroot = Path(tempfile.mkdtemp(prefix="dspy-bench-"))
    ports = procs.PortAllocator(args.base_port)
    mocks = {}
    try:
        ours_env = check_our_build(args, ours_bin, workroot, meta)
        mocks = start_mocks({c.delay_ms for c in cells}, ours_bin, ours_env, ports, workroot, load_cpus)
        settings = runner.Settings(
            oha=oha,
            ctx=servers.Context(BENCH_DIR, ours_bin, upstream_venv, server_cpus, ours_env),
            seconds=args.duration,
            warmup_s=args.warmup,
            workroot=workroot,
            mocks=mocks,
            ports=ports,
            load_cpus=load_cpus,
            floor_python=runner.harness_python(),
            profile_dir=results_dir if args.profile else None,
        )
        results = run_matrix(cells, wanted, args, settings, upstream_venv, server_cpus, save)
    finally:
        for mock in mocks.values():
            procs.stop(mock, grace_s=5)
        if args.keep_workdirs:
            log(f"server output and logs kept in {workroot}")
        else:
            shutil.rmtree(workroot, ignore_errors=True)
    meta["finished"] = datetime.now(timezone.utc).isoformat()
    save(results)
    print(machine_line(meta))
    print()
    print(report.render(results))
    log(f"raw results: {out_path}")
    wrong = sum(r.get("mismatches", 0) for r in results)
    if wrong:
        log(f"warning: {wrong} wrong answers or bad log lines (see the tables); not a harness failure")
    failed = [r for r in results if "failed" in r]
    if failed:
        log(f"{len(failed)} runs failed (server did not start or the harness broke): exit 1")
        return 1
    return 0


def machine_line(meta: dict) -> str:
    m = meta["machine"]
    return (
        f"Machine: {m['cpu_model']}, {m['nproc']} CPUs, {m['mem_gib']} GiB; {m['uname']}\n"
        f"ours: {m['ours_version']} ({m.get('ours_build', '?')} build, git {m['ours_git']}{' dirty' if m['ours_git_dirty'] else ''}), "
        f"dspy {m['ours_packages'].get('dspy')}, litellm {m['ours_packages'].get('litellm')}; "
        f"upstream venv: {m.get('upstream_packages', {}).get('dspy-cli', 'n/a')}; {m['oha']}\n"
        f"runs: {meta['args']['duration']} s measured after {meta['args']['warmup']} s warm-up, "
        f"{meta['args']['reps']} reps, pinned: {meta['args']['pin']}, load average at start {meta['loadavg_at_start']}"
    )


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except SystemExit:
        raise
    except Exception:
        traceback.print_exc()
        sys.exit(1)
