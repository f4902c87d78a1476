"""Processes the harness starts, and what /proc says about them.

Every process is started in its own session, so stopping it signals only that process group (the
server and any workers it forked), never anything the harness did not start.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass
class Proc:
    """A process the harness started, with its output going to a file (never to the terminal)."""

    name: str
    popen: subprocess.Popen
    log_path: Path
    started_at: float  # time.monotonic() just before exec
    extra: dict = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def spawn(name: str, argv: list[str], cwd: Path, env: dict, log_path: Path, cpus: str | None = None) -> Proc:
    """Start argv with stdout and stderr in log_path (terminal output would cost the server CPU)."""
    if cpus:
        argv = ["taskset", "-c", cpus, *argv]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started_at = time.monotonic()
    with open(log_path, "wb") as out:  # the child keeps its own copy of the descriptor
        popen = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Proc(name=name, popen=popen, log_path=log_path, started_at=started_at)


def stop(proc: Proc, grace_s: float = 15.0) -> float | None:
    """SIGTERM the process group, SIGKILL it after grace_s. Returns the seconds the graceful stop took."""
    if not proc.alive():
        return 0.0
    t0 = time.monotonic()
    _signal_group(proc, signal.SIGTERM)
    try:
        proc.popen.wait(timeout=grace_s)
        return time.monotonic() - t0
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        proc.popen.wait(timeout=10)
        return None


def _signal_group(proc: Proc, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)  # our own session: pgid == pid


# ---------------------------------------------------------------- /proc readings


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _read_stat(int(entry))
        if stat:
            children.setdefault(int(stat[1]), []).append(int(entry))
    return children


def process_tree(pid: int) -> list[int]:
    """pid and all its live descendants (uvicorn --workers forks; taskset execs in place)."""
    children = _children_map()
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def _read_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name; index 0 is the state (field 3)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """utime+stime of the tree rooted at pid, including reaped children (cutime+cstime)."""
    total = 0
    for p in process_tree(pid):
        stat = _read_stat(p)
        if stat:
            # fields 14-17 of stat(5): utime stime cutime cstime; our list starts at field 3
            total += sum(int(x) for x in stat[11:15])
    return total / CLOCK_TICKS


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mb(pid: int) -> float:
    """Current resident memory (VmRSS) of the process tree, MiB."""
    return sum(_status_kb(p, "VmRSS") for p in process_tree(pid)) / 1024


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) summed over the tree, MiB (an upper bound if peaks differ in time)."""
    return sum(_status_kb(p, "VmHWM") for p in process_tree(pid)) / 1024


def thread_count(pid: int) -> int:
    return sum(_status_kb(p, "Threads") for p in process_tree(pid))


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (from /proc/stat), to spot other load on the box."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(x) for x in fields]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / CLOCK_TICKS


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


# ---------------------------------------------------------------- ports


class PortAllocator:
    """Hands out distinct ports from a fixed range, skipping ones something else listens on."""

    def __init__(self, first: int, count: int = 200):
        self.first, self.count, self.next = first, count, 0

    def take(self) -> int:
        for _ in range(self.count):
            port = self.first + self.next % self.count
            self.next += 1
            if _port_free(port):
                return port
        raise RuntimeError(f"no free port in {self.first}..{self.first + self.count - 1}")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def busy_fraction(sample_s: float = 0.5) -> float:
    """Share of all CPUs busy over sample_s (0..1)."""
    b0, t0 = machine_busy_seconds(), time.monotonic()
    time.sleep(sample_s)
    return (machine_busy_seconds() - b0) / ((time.monotonic() - t0) * (os.cpu_count() or 1))


def wait_for_quiet(max_wait_s: float, threshold: float = 0.15) -> tuple[float, float]:
    """Wait (up to max_wait_s) until the box is mostly idle, since another user's build skews every figure.

    Returns (seconds waited, last busy fraction seen).
    """
    t0 = time.monotonic()
    busy = busy_fraction()
    while busy > threshold and time.monotonic() - t0 < max_wait_s:
        time.sleep(1.0)
        busy = busy_fraction()
    return time.monotonic() - t0, busy


def cpu_by_thread_name(pid: int) -> dict[str, float]:
    """CPU seconds per thread name (comm) over the tree: shows where a server's CPU goes
    (e.g. HTTP runtime vs the Python thread vs the log writer), without a profiler."""
    out: dict[str, float] = {}
    for p in process_tree(pid):
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                name = Path(f"/proc/{p}/task/{tid}/comm").read_text().strip()
                raw = Path(f"/proc/{p}/task/{tid}/stat").read_text()
            except OSError:
                continue
            fields = raw[raw.rindex(")") + 2 :].split()
            out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return out


def wait_idle(pid: int, max_wait_s: float, window_s: float = 0.2, threshold: float = 0.05) -> float:
    """Wait until the process tree uses < threshold of a core over window_s; returns seconds waited.

    After a load phase the client cancels its in-flight requests, but a server may still work through
    them (a queued thread pool does not notice): the next phase must not pay for the previous one.
    """
    t0 = time.monotonic()
    while time.monotonic() - t0 < max_wait_s:
        c0 = cpu_seconds(pid)
        time.sleep(window_s)
        if cpu_seconds(pid) - c0 < threshold * window_s:
            break
    return time.monotonic() - t0
