"""`run.py --profile`: where our server's CPU goes per request, by phase.

After the measured load of each `ours` run, two more loads of the same length:

1. py-spy with native frames (`--native --gil`: Rust, C and Python frames of the thread holding
   the GIL) writes a flame graph SVG to bench/results/. Native unwinding is slow, so this pass
   samples little; it is for looking, not for the table.
2. py-spy `--gil` (only the thread holding the GIL is sampled, so samples are Python CPU) writes
   collapsed stacks, while /proc gives each thread's CPU, `perf stat` counts GIL acquisitions
   (a uprobe on libpython's `take_gil`, when perf may) and `/metrics` gives the sync pool's GIL
   wait. Each stack is put in one phase (`classify`), and a phase's CPU per request is its share
   of the samples times the Python threads' CPU per request. Rust threads are read from /proc.

Profiling slows the server down (py-spy pauses it to read stacks): the passes' own req/s mean
nothing, which is why they come after the measured load and never replace it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import httpx

from . import load, procs

PY_SPY_RATE_GIL = 200  # samples/s of the GIL holder (table pass; --nonblocking: the server is not paused)
PY_SPY_RATE_NATIVE = 50  # native unwinding is slow; more only falls behind
RUST_THREADS = ("dspy-tokio", "log-writer", "tokio-runtime-w")

# Phases in table order; each stack gets exactly one (see classify).
PHASES = [
    "hand-off to Python (run_sync / start_async, context copy)",
    "validation (parse_request)",
    "gateway input transform (_prepare)",
    "lm.copy()",
    "dspy.context enter/exit",
    "track_usage enter/exit",
    "the module: DSPy (predict, adapter, callbacks)",
    "the module: LM client (request build, HTTP, response parse)",
    "usage tracking inside the LM call (add_usage, cost copy)",
    "output shaping (_finish: normalize, response model)",
    "log line, Python part (inputs/outputs/usage JSON)",
    "hand-back (done callback, outcome)",
    "asyncio loop (scheduling, I/O callbacks)",
    "other Python (threads, GC, interpreter)",
]

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]*)(?::\d+)?\)$")
_LM_CLIENT = (
    "dspy/clients/",
    "dspy/_vendor/lm15/",
    "httpx/",
    "httpcore/",
    "litellm/",
    "openai/",
    "ssl.py",
    "socket.py",
)


def _funcs(stack: str) -> list[tuple[str, str]]:
    out = []
    for frame in stack.split(";"):
        m = _FRAME.match(frame.strip())
        out.append((m["func"], m["file"]) if m else (frame.strip(), ""))
    return out


def _module_phase(below: list[tuple[str, str]]) -> str:
    """A stack inside the module call: DSPy itself, the LM client, or usage/cost tracking."""
    for _, file in below:
        if "usage_tracker" in file or file.endswith("_runtime/cost.py"):
            return PHASES[8]
    if any(file.startswith(_LM_CLIENT) and "adapters" not in file for _, file in below[-3:]):
        return PHASES[7]
    return PHASES[6]


def classify(stack: str) -> str:
    """The phase of one collapsed stack (root first), by the frame under `_execute_*`."""
    frames = _funcs(stack)
    names = [f for f, _ in frames]
    files = [f for _, f in frames]
    ours = [i for i, f in enumerate(files) if f.endswith("_runtime/invoke.py")]
    if not ours:
        if any("_runtime/host.py" in f for f in files) and "run_loop" in names:
            return PHASES[12]
        if any(f.startswith(("dspy/", "dspy_cli/")) for f in files):
            # e.g. LM.aforward's asyncio.to_thread(prepare, ...) on the default executor
            return _module_phase(frames)
        return PHASES[13]
    execute = next((i for i in ours if names[i] in ("_execute_sync", "_execute_async")), None)
    if execute is None:
        if "parse_request" in names:
            return PHASES[1]
        if "_task_outcome" in names or any("start_async.<locals>.<lambda>" in n for n in names):
            return PHASES[11]
        return PHASES[0]
    below = frames[execute + 1 :]
    if not below:
        return PHASES[0]
    child, child_file = below[0]
    below_names = [n for n, _ in below]
    if child == "_prepare":
        return PHASES[2]
    if child in ("_finish", "_failure"):
        if any(n in ("_loggable_inputs", "_loggable_outputs", "_usage", "_log_json") for n in below_names):
            return PHASES[10]
        return PHASES[9]
    # _request_settings builds the LM copy (request_lm.py); before it, LM.copy was called here.
    if (child == "_request_settings" or child.endswith("copy")) and any(n.endswith("copy") for n in below_names):
        return PHASES[3]
    if any("usage_tracker" in f for _, f in below[:3]):
        return PHASES[5]
    if "contextlib" in child_file or any("settings.py" in f for _, f in below[:2]):
        return PHASES[4]
    return _module_phase(below)


def parse_collapsed(path: Path) -> dict[str, int]:
    """py-spy raw output -> samples per phase."""
    counts = dict.fromkeys(PHASES, 0)
    for line in path.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            counts[classify(stack)] += int(n)
    return counts


def _py_spy() -> Path | None:
    found = shutil.which("py-spy")
    if found:
        return Path(found)
    import sys

    candidate = Path(sys.executable).parent / "py-spy"
    return candidate if candidate.exists() else None


def _libpython(pid: int) -> str | None:
    try:
        for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
            if "libpython" in line and line.endswith(".so.1.0"):
                return line.split()[-1]
    except OSError:
        pass
    return None


def _gil_probe(pid: int) -> str | None:
    """A perf uprobe on take_gil (one hit per GIL acquisition), or None if perf may not."""
    lib = _libpython(pid)
    if not lib or not shutil.which("perf"):
        return None
    listed = subprocess.run(["perf", "probe", "-l"], capture_output=True, text=True, check=False)
    if "take_gil" not in listed.stdout:
        added = subprocess.run(["perf", "probe", "-x", lib, "take_gil"], capture_output=True, text=True, check=False)
        if added.returncode != 0:
            return None
        listed = subprocess.run(["perf", "probe", "-l"], capture_output=True, text=True, check=False)
    for line in listed.stdout.splitlines():
        if "take_gil" in line:
            return line.split()[0]
    return None


def _gil_wait_s(base_url: str) -> float | None:
    try:
        text = httpx.get(f"{base_url}/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    m = re.search(r"^dspy_gil_wait_seconds ([0-9.eE+-]+)$", text, re.M)
    return float(m[1]) if m else None


def record(server, specs_for, s, workdir: Path, label: str, results_dir: Path) -> dict:
    """The two profiling passes for one run; returns the phase table's numbers."""
    py_spy = _py_spy()
    if py_spy is None:
        return {"error": "py-spy not found (it is in pyproject's dev group: make setup)"}
    pid, seconds = server.proc.pid, s.seconds
    stamp = time.strftime("%Y%m%dT%H%M%S")
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
    svg = results_dir / f"profile-{stamp}-{slug}.svg"
    out: dict = {"svg": str(svg)}

    # Pass 1: flame graph with native frames (Rust + C + Python). py-spy gives up when its first
    # native unwind fails (UNW_EINVAL on some frames), so it is retried while the load runs.
    loader = threading.Thread(
        target=load.run_concurrently, args=(s.oha, specs_for(seconds), workdir / "profile-native", s.load_cpus)
    )
    loader.start()
    deadline, err = time.monotonic() + seconds - 1, b""
    while not svg.exists() and time.monotonic() < deadline:
        left = max(1, int(deadline - time.monotonic()))
        spy = subprocess.run(
            [str(py_spy), "record", "--native", "--gil", "--rate", str(PY_SPY_RATE_NATIVE), "--format", "flamegraph",
             "-o", str(svg), "--pid", str(pid), "--duration", str(left)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False,
        )  # fmt: skip
        err = spy.stderr
    loader.join()
    if not svg.exists():
        out["svg"] = None
        out["svg_error"] = err.decode(errors="replace").strip().splitlines()[0][-300:] if err.strip() else "?"
    procs.wait_idle(pid, 30)

    # Pass 2: GIL-holder samples, thread CPU, GIL acquisitions, GIL wait.
    raw = workdir / "profile-gil.txt"
    probe = _gil_probe(pid)
    spy = subprocess.Popen(
        [str(py_spy), "record", "--gil", "--nonblocking", "--rate", str(PY_SPY_RATE_GIL), "--format", "raw",
         "-o", str(raw), "--pid", str(pid), "--duration", str(int(seconds))],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    perf = None
    if probe:
        perf = subprocess.Popen(
            ["perf", "stat", "-x", ",", "-e", probe, "-p", str(pid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
    gil0, threads0 = _gil_wait_s(server.base_url), procs.cpu_by_thread_name(pid)
    results = load.run_concurrently(s.oha, specs_for(seconds), workdir / "profile-gil", s.load_cpus)
    gil1, threads1 = _gil_wait_s(server.base_url), procs.cpu_by_thread_name(pid)
    spy.communicate(timeout=60)
    acquisitions = None
    if perf is not None:
        perf.send_signal(2)
        _, perf_err = perf.communicate(timeout=30)
        for line in perf_err.splitlines():
            fields = line.split(",")
            if len(fields) > 2 and "take_gil" in line and fields[0].strip().isdigit():
                acquisitions = int(fields[0])
    ok = sum(r["ok"] for r in results)
    if not ok or not raw.exists():
        return {**out, "error": "no requests answered during the profile pass" if not ok else "py-spy wrote nothing"}
    cpu = {name: threads1[name] - threads0.get(name, 0.0) for name in threads1}
    rust_ms = {n: 1000 * c / ok for n, c in cpu.items() if n.startswith(RUST_THREADS) and c > 0}
    python_ms = 1000 * sum(c for n, c in cpu.items() if not n.startswith(RUST_THREADS)) / ok
    samples = parse_collapsed(raw)
    total = sum(samples.values()) or 1
    out.update(
        requests=ok,
        samples=total,
        python_cpu_ms_per_req=round(python_ms, 4),
        rust_cpu_ms_per_req={n: round(v, 4) for n, v in sorted(rust_ms.items(), key=lambda x: -x[1])},
        phases_ms_per_req={p: round(python_ms * n / total, 4) for p, n in samples.items()},
        phases_samples=samples,
        gil_acquisitions_per_req=round(acquisitions / ok, 2) if acquisitions is not None else None,
        gil_probe=probe,
        sync_gil_wait_ms_per_req=round(1000 * (gil1 - gil0) / ok, 3) if gil0 is not None and gil1 is not None else None,
    )
    return out


def table(profiles: list[tuple[str, dict]]) -> str:
    """Markdown: one column per profiled cell, ms of CPU per request by phase."""
    usable = [(label, p) for label, p in profiles if "phases_ms_per_req" in p]
    if not usable:
        errors = "; ".join(f"{label}: {p.get('error')}" for label, p in profiles)
        return f"(no profile: {errors})"
    header = ["phase (ms CPU / request)", *[label for label, _ in usable]]
    rows = []
    rust_names = sorted({n for _, p in usable for n in p["rust_cpu_ms_per_req"]})
    for name in rust_names:
        rows.append([f"Rust thread {name} (HTTP, routing, response, log write)" if "tokio" in name else f"Rust thread {name}"]
                    + [f"{p['rust_cpu_ms_per_req'].get(name, 0):.4f}" for _, p in usable])  # fmt: skip
    for phase in PHASES:
        values = [p["phases_ms_per_req"].get(phase, 0.0) for _, p in usable]
        if any(v >= 0.0005 for v in values):
            rows.append([phase, *[f"{v:.4f}" for v in values]])
    rows.append(["**Python threads, total**", *[f"**{p['python_cpu_ms_per_req']:.4f}**" for _, p in usable]])
    rows.append(["GIL acquisitions / request (take_gil)", *[str(p.get("gil_acquisitions_per_req")) for _, p in usable]])
    rows.append(["sync pool GIL wait, wall ms / request", *[str(p.get("sync_gil_wait_ms_per_req")) for _, p in usable]])
    rows.append(["py-spy samples (GIL holder)", *[str(p["samples"]) for _, p in usable]])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    svgs = [
        f"- {label}: {Path(p['svg']).name if p.get('svg') else 'no SVG: ' + p.get('svg_error', '?')}"
        for label, p in profiles
    ]
    return "\n".join(lines) + "\n\nFlame graphs (bench/results/):\n" + "\n".join(svgs)
