"""Medians over repetitions, markdown tables, and the issue's targets (informational: nothing fails on them)."""

from __future__ import annotations

import statistics
from collections import defaultdict

from . import profile

SERVER_ORDER = ["ours", "ours-w2", "upstream", "upstream-sw200", "recipe", "recipe-w2", "floor"]
PRIMARY_PROGRAM = {"sync": "SyncPredict", "async": "AsyncPredict", "mixed": "AsyncPredict", "nolm": "NoLM"}
# Where the targets are set: 50 ms LM, 100 clients (no-LM module: 50).
TARGET_CELL = {"sync": (50, 100), "async": (50, 100), "mixed": (50, 100), "nolm": (50, 50)}


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def cell_key(run: dict) -> tuple:
    return (run["scenario"], run["delay_ms"], run["clients"])


def cell_label(key: tuple) -> str:
    scenario, delay, clients = key
    return f"no-LM, c={clients}" if scenario == "nolm" else f"{scenario}, LM {delay} ms, c={clients}"


def _latency(run: dict, program: str, pct: str):
    if run["server"] == "floor":
        return run.get(f"{pct}_ms")
    endpoint = run.get("endpoints", {}).get(program)
    return endpoint.get(f"{pct}_ms") if endpoint else None


def _endpoint_rps(run: dict, program: str):
    endpoint = run.get("endpoints", {}).get(program)
    return endpoint.get("rps") if endpoint else None


def _starvation_ratio(run: dict):
    alone = (run.get("async_alone") or {}).get("p95_ms")
    mixed = _latency(run, "AsyncPredict", "p95")
    return mixed / alone if alone and mixed else None


def aggregate(runs: list[dict]) -> dict:
    """(cell, server) -> medians over repetitions, plus spreads and summed error counts."""
    groups = defaultdict(list)
    for run in runs:
        groups[(cell_key(run), run["server"])].append(run)
    agg = {}
    for (key, server), group in groups.items():
        program = PRIMARY_PROGRAM[key[0]]
        rps = [r["rps"] for r in group]
        a = {
            "reps": len(group),
            "rps": _median(rps),
            "rps_min": min(rps),
            "rps_max": max(rps),
            "p50": _median(_latency(r, program, "p50") for r in group),
            "p95": _median(_latency(r, program, "p95") for r in group),
            "p99": _median(_latency(r, program, "p99") for r in group),
            "errors": sum(r.get("errors", 0) for r in group),
            "mismatches": sum(r.get("mismatches", 0) for r in group),
            "log_lines_lost": sum(r.get("log_lines_lost", 0) for r in group),
            "cpu_ms": _median(r.get("cpu_ms_per_req") for r in group),
            "peak_rss": _median(r.get("peak_rss_mb") for r in group),
            "idle_rss": _median(r.get("idle_rss_mb") for r in group),
            # CPU used by anything else on the box during the run, as % of all cores: noise indicator.
            "other_pct": _median(r.get("other_pct") for r in group),
        }
        if key[0] == "mixed":
            a["sync_rps"] = _median(_endpoint_rps(r, "SyncPredict") for r in group)
            a["async_rps"] = _median(_endpoint_rps(r, "AsyncPredict") for r in group)
            a["sync_p95"] = _median(_latency(r, "SyncPredict", "p95") for r in group)
            a["async_alone_p95"] = _median((r.get("async_alone") or {}).get("p95_ms") for r in group)
            a["starvation"] = _median(_starvation_ratio(r) for r in group)
        agg[(key, server)] = a
    return agg


def startup(runs: list[dict]) -> dict:
    """server -> median (and max) startup times and idle RSS over every run of that server."""
    by_server = defaultdict(list)
    for run in runs:
        if "startup" in run:
            by_server[run["server"]].append(run)
    out = {}
    for server, group in by_server.items():
        out[server] = {
            "runs": len(group),
            "live_ms": _median(1000 * r["startup"]["live"] for r in group),
            "live_max_ms": max(1000 * r["startup"]["live"] for r in group),
            "ready_ms": _median(1000 * r["startup"]["ready"] for r in group),
            "first_answer_ms": _median(1000 * r["startup"]["first_answer"] for r in group),
            "idle_rss": _median(r["idle_rss_mb"] for r in group),
        }
    return out


# ---------------------------------------------------------------- formatting


def _f(value, digits=0, suffix="") -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}{suffix}"


def _rps(value) -> str:
    """Requests/s: no decimals unless small (500 ms LM at 10 clients is ~20 req/s)."""
    return _f(value, 1 if value is not None and value < 100 else 0)


def _ratio(a, b, digits=2) -> str:
    if a is None or not b:
        return "–"
    return f"{a / b:.{digits}f}x"


def _servers_in(agg: dict, key: tuple) -> list[str]:
    present = {server for (k, server) in agg if k == key}
    return [s for s in SERVER_ORDER if s in present] + sorted(present - set(SERVER_ORDER))


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def cell_table(agg: dict, key: tuple) -> str:
    ours = agg.get((key, "ours"), {})
    header = [
        "server",
        "req/s (min–max)",
        "ours ÷ it (req/s)",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "errors",
        "wrong/lost",
        "CPU ms/req",
        "ours ÷ it (CPU)",
        "peak RSS MiB",
        "other load",
    ]
    rows = []
    for server in _servers_in(agg, key):
        a = agg[(key, server)]
        rows.append(
            [
                server,
                f"{_rps(a['rps'])} ({_rps(a['rps_min'])}–{_rps(a['rps_max'])})",
                _ratio(ours.get("rps"), a["rps"]),
                _f(a["p50"], 1),
                _f(a["p95"], 1),
                _f(a["p99"], 1),
                str(a["errors"]),
                f"{a['mismatches']}/{a['log_lines_lost']}",
                _f(a["cpu_ms"], 3),
                _ratio(ours.get("cpu_ms"), a["cpu_ms"]),
                _f(a["peak_rss"]),
                _f(a["other_pct"], 0, "%"),
            ]
        )
    return (
        f"**{cell_label(key)}** ({agg[(key, 'ours')]['reps'] if (key, 'ours') in agg else '?'} reps, medians)\n\n"
        + _table(header, rows)
    )


def mixed_table(agg: dict, key: tuple) -> str:
    ours = agg.get((key, "ours"), {})
    header = [
        "server",
        "total req/s",
        "ours ÷ it",
        "sync req/s",
        "async req/s",
        "async p95 alone ms",
        "async p95 mixed ms",
        "mixed ÷ alone",
        "sync p95 ms",
        "errors",
        "wrong/lost",
        "CPU ms/req",
        "other load",
    ]
    rows = []
    for server in _servers_in(agg, key):
        a = agg[(key, server)]
        rows.append(
            [
                server,
                _rps(a["rps"]),
                _ratio(ours.get("rps"), a["rps"]),
                _rps(a["sync_rps"]),
                _rps(a["async_rps"]),
                _f(a["async_alone_p95"], 1),
                _f(a["p95"], 1),
                _f(a["starvation"], 2, "x"),
                _f(a["sync_p95"], 1),
                str(a["errors"]),
                f"{a['mismatches']}/{a['log_lines_lost']}",
                _f(a["cpu_ms"], 3),
                _f(a["other_pct"], 0, "%"),
            ]
        )
    clients = key[2]
    note = f"async alone = {clients // 2} clients on AsyncPredict; mixed = {clients - clients // 2} on SyncPredict + {clients // 2} on AsyncPredict"
    return f"**{cell_label(key)}** ({note})\n\n" + _table(header, rows)


def ratio_summary(agg: dict, keys: list[tuple]) -> str:
    """One line per scenario: ours' req/s ÷ theirs, and ours' CPU per request ÷ theirs (lower is better)."""
    others = [s for s in SERVER_ORDER if s != "ours" and any(server == s for (_, server) in agg)]
    rows = []
    for key in keys:
        ours = agg.get((key, "ours"))
        if not ours:
            continue
        row = [cell_label(key)]
        for other in others:
            theirs = agg.get((key, other))
            if not theirs:
                row.append("–")
                continue
            cpu = _ratio(ours["cpu_ms"], theirs["cpu_ms"]) if other != "floor" or key[0] != "mixed" else "–"
            row.append(f"{_ratio(ours['rps'], theirs['rps'])} / {cpu}")
        rows.append(row)
    header = ["scenario"] + [f"vs {o}" for o in others]
    return (
        "**ours ÷ each** (req/s ratio, higher is better / CPU-per-request ratio, lower is better; medians)\n\n"
        + _table(header, rows)
    )


def cpu_breakdown_table(runs: list[dict], keys: list[tuple]) -> str:
    """Server CPU per request split by thread name (median over reps): where each server's CPU goes."""
    by = defaultdict(lambda: defaultdict(list))
    for r in runs:
        for name, ms in (r.get("cpu_ms_per_req_by_thread") or {}).items():
            by[(cell_key(r), r["server"])][name].append(ms)
    rows = []
    for key in keys:
        for server in [s for s in SERVER_ORDER if (key, s) in by]:
            threads = {name: _median(v) for name, v in by[(key, server)].items()}
            top = sorted(threads.items(), key=lambda x: -x[1])[:4]
            rows.append([cell_label(key), server, ", ".join(f"{name} {ms:.3f}" for name, ms in top)])
    return (
        "**server CPU by thread** (ms of CPU per request, top 4 thread names; Python servers show "
        "their main thread under the process name)\n\n" + _table(["scenario", "server", "ms/req by thread"], rows)
    )


def startup_table(start: dict) -> str:
    header = ["server", "/health/live ms (max)", "/health/ready ms", "first answer ms", "idle RSS MiB", "runs"]
    rows = []
    for server in [s for s in SERVER_ORDER if s in start]:
        s = start[server]
        rows.append(
            [
                server,
                f"{_f(s['live_ms'])} ({_f(s['live_max_ms'])})",
                _f(s["ready_ms"]),
                _f(s["first_answer_ms"]),
                _f(s["idle_rss"]),
                str(s["runs"]),
            ]
        )
    return (
        "**startup** (spawn to first 200; the recipe has no health routes, so all three are its first answer)\n\n"
        + _table(header, rows)
    )


# ---------------------------------------------------------------- targets


def _target_key(agg: dict, scenario: str) -> tuple | None:
    """The issue's cell for that scenario if measured, else the first measured cell of that scenario."""
    delay, clients = TARGET_CELL[scenario]
    wanted = (scenario, delay, clients)
    if any(k == wanted for (k, _) in agg):
        return wanted
    # Otherwise the nearest: LM delay closest to 50 ms, then the most clients.
    keys = sorted({k for (k, _) in agg if k[0] == scenario}, key=lambda k: (abs(k[1] - delay), -k[2], -k[1]))
    return keys[0] if keys else None


def targets(agg: dict, start: dict) -> list[dict]:
    """Each target of the issue that this run has the data for: goal, measured ratio, met or not."""
    out = []

    def add(name, key, measured, goal, higher_is_better=True, fmt="{:.2f}x"):
        if measured is None:
            return
        met = measured >= goal if higher_is_better else measured <= goal
        sign = ">=" if higher_is_better else "<="
        out.append(
            {
                "target": name,
                "cell": cell_label(key) if key else "all runs",
                "goal": f"{sign} {fmt.format(goal)}",
                "measured": fmt.format(measured),
                "met": met,
            }
        )

    def ratio(key, field, other):
        a, b = agg.get((key, "ours"), {}).get(field), agg.get((key, other), {}).get(field)
        return a / b if a is not None and b else None

    for scenario, goals in (
        ("sync", [("floor", 0.9), ("recipe", 1.1), ("upstream", 7.0), ("upstream-sw200", 2.2)]),
        ("async", [("floor", 0.9), ("recipe", 1.0), ("upstream", 2.0)]),
    ):
        key = _target_key(agg, scenario)
        for other, goal in goals:
            add(f"{scenario} req/s, ours ÷ {other}", key, ratio(key, "rps", other), goal)
        if key and key[2] >= 100:
            add(f"{scenario} p99, ours ÷ recipe", key, ratio(key, "p99", "recipe"), 1.0, higher_is_better=False)
            add(f"{scenario} p99, ours ÷ upstream", key, ratio(key, "p99", "upstream"), 1 / 3, higher_is_better=False)
    key = _target_key(agg, "mixed")
    add(
        "mixed: ours async p95 mixed ÷ alone",
        key,
        agg.get((key, "ours"), {}).get("starvation"),
        1.2,
        higher_is_better=False,
    )
    key = _target_key(agg, "nolm")
    add("no-LM CPU/req, ours ÷ recipe", key, ratio(key, "cpu_ms", "recipe"), 0.5, higher_is_better=False)
    add("no-LM CPU/req, ours ÷ upstream", key, ratio(key, "cpu_ms", "upstream"), 1 / 9, higher_is_better=False)
    add("no-LM req/s, ours ÷ recipe", key, ratio(key, "rps", "recipe"), 1.5)
    ours, up = start.get("ours", {}), start.get("upstream", {})
    add("/health/live after start (ms, median)", None, ours.get("live_ms"), 100, higher_is_better=False, fmt="{:.0f}")
    if up:
        add(
            "/health/ready, ours ÷ upstream first answer",
            None,
            ours.get("ready_ms") / up["first_answer_ms"] if ours.get("ready_ms") else None,
            1.0,
            higher_is_better=False,
        )
        add(
            "idle RSS, ours ÷ upstream",
            None,
            ours.get("idle_rss") / up["idle_rss"] if ours.get("idle_rss") and up.get("idle_rss") else None,
            1.1,
            higher_is_better=False,
        )
    return out


def targets_table(rows: list[dict]) -> str:
    header = ["target", "measured", "goal", "met", "cell"]
    body = [[r["target"], r["measured"], r["goal"], "yes" if r["met"] else "**no**", r["cell"]] for r in rows]
    return "**targets** (from the issue; informational, the harness never fails on them)\n\n" + _table(header, body)


def failures_table(failed: list[dict]) -> str:
    rows = [
        [r["server"], cell_label(cell_key(r)), str(r["rep"] + 1), r["failed"].splitlines()[0][:200]] for r in failed
    ]
    return "**failed runs** (left out of every table above)\n\n" + _table(["server", "cell", "rep", "error"], rows)


def render(all_runs: list[dict]) -> str:
    runs = [r for r in all_runs if "failed" not in r]
    failed = [r for r in all_runs if "failed" in r]
    agg = aggregate(runs)
    start = startup(runs)
    keys = sorted({k for (k, _) in agg}, key=lambda k: (["sync", "async", "mixed", "nolm"].index(k[0]), k[1], k[2]))
    parts = [targets_table(targets(agg, start)), ratio_summary(agg, keys)]
    for key in keys:
        parts.append(mixed_table(agg, key) if key[0] == "mixed" else cell_table(agg, key))
    parts.append(startup_table(start))
    parts.append(cpu_breakdown_table(runs, keys))
    profiled = [(f"{cell_label(cell_key(r))} rep {r['rep'] + 1}", r["profile"]) for r in runs if r.get("profile")]
    if profiled:
        parts.append("**profile of ours** (CPU per request by phase; `--profile`)\n\n" + profile.table(profiled))
    if failed:
        parts.append(failures_table(failed))
    return "\n\n".join(parts) + "\n"
