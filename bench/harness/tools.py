"""Sets up what the benchmark needs and is not in the repo: oha, and dspy-cli 0.1.13 in its own venv.

Both live at the repo root (`.bench-tools/`, `.bench-venv-upstream/`), out of git. In a git worktree the
main checkout's copies are reused, so a second checkout does not rebuild oha or reinstall upstream.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import struct
import subprocess
import sys
from pathlib import Path

UPSTREAM_VERSION = "0.1.13"
UPSTREAM_VENV = ".bench-venv-upstream"
TOOLS_DIR = ".bench-tools"


def repo_roots(bench_dir: Path) -> list[Path]:
    """This checkout's root, then the main checkout's root if this is a git worktree."""
    root = bench_dir.parent
    roots = [root]
    try:
        common = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--path-format=absolute", "--git-common-dir"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        main_root = Path(common).parent
        if main_root != root:
            roots.append(main_root)
    except (OSError, subprocess.CalledProcessError):
        pass
    return roots


def _log(msg: str) -> None:
    print(f"[setup] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- oha


def ensure_oha(bench_dir: Path, explicit: str | None) -> Path:
    """Find oha (option, repo tools dir, PATH) or build it with cargo into <root>/.bench-tools."""
    if explicit:
        return Path(explicit)
    candidates = [root / TOOLS_DIR / "bin" / "oha" for root in repo_roots(bench_dir)]
    on_path = shutil.which("oha")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.exists() and _run_text([str(candidate), "--version"]).startswith("oha"):
            return candidate
    tools = bench_dir.parent / TOOLS_DIR
    _log(f"oha not found: cargo install --locked --root {tools} oha (a few minutes, once)")
    tools.mkdir(exist_ok=True)
    # The directory ignores itself, so it stays out of git even without a root .gitignore entry.
    (tools / ".gitignore").write_text("*\n")
    subprocess.run(["cargo", "install", "--locked", "--root", str(tools), "oha"], check=True)
    return tools / "bin" / "oha"


# ---------------------------------------------------------------- upstream dspy-cli


def find_upstream_venv(bench_dir: Path) -> Path | None:
    for root in repo_roots(bench_dir):
        venv = root / UPSTREAM_VENV
        if (venv / ".installed").exists():
            return venv
    return None


def ensure_upstream_venv(bench_dir: Path) -> Path:
    """dspy-cli 0.1.13 from PyPI in its own venv (it pulls dspy, fastapi, uvicorn); the recipe server uses it too."""
    found = find_upstream_venv(bench_dir)
    if found:
        return found
    venv = bench_dir.parent / UPSTREAM_VENV
    _log(f"creating {venv} with dspy-cli=={UPSTREAM_VERSION} (about a minute, once)")
    base_python = getattr(sys, "_base_executable", None) or sys.executable
    subprocess.run([base_python, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, f"dspy-cli=={UPSTREAM_VERSION}"], check=True)
    # Written last: a venv without this marker is a broken install and gets recreated.
    (venv / ".installed").write_text(f"dspy-cli=={UPSTREAM_VERSION}\n")
    return venv


# ---------------------------------------------------------------- what the run was measured on


def _run_text(argv: list[str], cwd: Path | None = None) -> str:
    try:
        return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _mem_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return 0.0


def _versions(python: Path, packages: list[str]) -> dict:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for p in sys.argv[1:]:\n"
        "    try: out[p] = m.version(p)\n"
        "    except m.PackageNotFoundError: out[p] = None\n"
        "print(json.dumps(out))\n"
    )
    text = _run_text([str(python), "-c", code, *packages])
    return json.loads(text) if text else {}


def machine_info(bench_dir: Path, ours_bin: Path, oha: Path, upstream_venv: Path | None) -> dict:
    ours_root = ours_bin.resolve().parent.parent.parent  # <repo>/.venv/bin/dspy-cli
    packages = ["dspy", "litellm", "fastapi", "uvicorn", "uvloop", "httptools", "dspy-cli", "dspy-cli-rs"]
    info = {
        "uname": " ".join(platform.uname()),
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "mem_gib": _mem_gib(),
        "python": platform.python_version(),
        "oha": _run_text([str(oha), "--version"]),
        "ours_bin": str(ours_bin),
        "ours_version": _run_text([str(ours_bin), "--version"]),
        "ours_git": _run_text(["git", "-C", str(ours_root), "rev-parse", "--short", "HEAD"]),
        "ours_git_dirty": bool(
            _run_text(["git", "-C", str(ours_root), "status", "--porcelain", "--untracked-files=no"])
        ),
        "bench_git": _run_text(["git", "-C", str(bench_dir), "rev-parse", "--short", "HEAD"]),
        "ours_packages": _versions(ours_bin.parent / "python", packages),
    }
    if upstream_venv:
        info["upstream_packages"] = _versions(upstream_venv / "bin" / "python", packages)
    return info


# ---------------------------------------------------------------- a stable copy of our build


def ours_package_dir(ours_bin: Path) -> Path:
    """Where our dspy_cli package (Python runtime + native module) is imported from."""
    python = ours_bin.parent / "python"
    package = _run_text([str(python), "-c", "import dspy_cli, os; print(os.path.dirname(dspy_cli.__file__))"])
    if not package:
        raise RuntimeError(f"cannot import dspy_cli with {python}")
    return Path(package)


def freeze_ours(package: Path, dest: Path) -> tuple[dict, Path]:
    """Copy our installed dspy_cli package; returns the env that makes our binary use the copy, and the copy.

    Our server is an editable install: a rebuild or an edit in the checkout during a long run would
    change the server under test half-way. PYTHONPATH puts the copy ahead of the editable path.
    """
    shutil.copytree(package, dest / "dspy_cli", ignore=shutil.ignore_patterns("__pycache__"))
    _log(f"froze our build from {package} into {dest}")
    return {"PYTHONPATH": str(dest)}, dest / "dspy_cli"


def elf_section_names(path: Path) -> set[str]:
    """Section names of a 64-bit little-endian ELF file (enough to tell a debug build apart)."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return set()
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def section(i):  # (name offset, file offset, size)
        base = shoff + i * shentsize
        (name,) = struct.unpack_from("<I", data, base)
        offset, size = struct.unpack_from("<QQ", data, base + 0x18)
        return name, offset, size

    _, str_off, str_size = section(shstrndx)
    strings = data[str_off : str_off + str_size]
    names = set()
    for i in range(shnum):
        name_off = section(i)[0]
        names.add(strings[name_off : strings.index(b"\0", name_off)].decode(errors="replace"))
    return names


def native_build_kind(package_dir: Path) -> str:
    """'release' or 'debug' for our native module: `make build` (maturin develop) installs a debug
    build, whose numbers mean nothing; `make build-release` is what the benchmark must measure."""
    modules = sorted(package_dir.glob("_native*.so"))
    if not modules:
        return "unknown"
    return "debug" if ".debug_info" in elf_section_names(modules[0]) else "release"
