"""Generated projects run: for each of the six module types, the project made by `new` and
the modules added by `g scaffold` / `g module` import cleanly, `dspy-cli serve` discovers
them, and a request against `serve --mock-lm` returns 200 with outputs of the declared types.
Signatures cover `list[str]`, `Optional[int]`, `Literal[...]`, `dict[str, Any]`, `dspy.Image`."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from scaffolding import new_args
from serving import run_cli, start_server

ANSWER = "model=gpt-4o-mini"  # what the mock LM puts in str fields for openai/gpt-4o-mini

# A 1x1 PNG as a data URI, for dspy.Image inputs.
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
IMAGE = f"data:image/png;base64,{PNG}"
assert base64.b64decode(PNG).startswith(b"\x89PNG")

# name: (signature, request body, {output: check})
SIGNATURES = {
    "list": ("items: list[str] -> tags: list[str]", {"items": ["a", "b"]}, {"tags": [ANSWER]}),
    "optional": ("n: Optional[int] -> score: Optional[int]", {"n": 3}, {"score": 42}),
    "literal": ("mode: Literal['fast', 'slow'] -> label: Literal['pos', 'neg']", {"mode": "fast"}, {"label": "pos"}),
    "dict": ("meta: dict[str, Any] -> extra: dict[str, Any]", {"meta": {"k": 1}}, {"extra": {}}),
    "image": ("picture: dspy.Image -> caption", {"picture": IMAGE}, {"caption": ANSWER}),
}
ALL = (
    "items: list[str], n: Optional[int], mode: Literal['fast', 'slow'], meta: dict[str, Any], picture: dspy.Image"
    " -> tags: list[str], score: Optional[int], label: Literal['pos', 'neg'], extra: dict[str, Any], caption"
)
ALL_BODY = {k: v for _, body, _ in SIGNATURES.values() for k, v in body.items()}
ALL_OUTPUTS = {k: v for _, _, out in SIGNATURES.values() for k, v in out.items()}

# module type -> (signature given to `new`, class suffix); PoT gets every type via `new` too.
MODULE_TYPES = {
    "Predict": ("list", "Predict"),
    "ChainOfThought": ("optional", "CoT"),
    "ProgramOfThought": ("literal", "PoT"),
    "ReAct": ("dict", "ReAct"),
    "MultiChainComparison": ("image", "MCC"),
    "Refine": ("list", "Refine"),
}


def package_of(module_type: str) -> str:
    return f"proj_{module_type.lower()}"


@pytest.fixture(scope="module")
def projects(tmp_path_factory) -> dict[str, Path]:
    """One project per module type: `new` with a typed signature, plus `g scaffold` (all types)
    and `g module` (inline signature) of the same module type."""
    base = tmp_path_factory.mktemp("generated")
    made = {}
    for module_type, (signature, _) in MODULE_TYPES.items():
        name = f"proj-{module_type.lower()}"
        flags = {"--module-type": module_type, "--signature": SIGNATURES[signature][0]}
        result = run_cli(*new_args(name, **flags), cwd=base)
        assert result.returncode == 0, result.stdout
        root = base / name
        for args in (
            ["g", "scaffold", "everything", "-m", module_type, "-s", ALL],
            ["g", "module", "inline", "-m", module_type],
        ):
            result = run_cli(*args, cwd=root)
            assert result.returncode == 0, result.stdout
        made[module_type] = root
    return made


def test_generated_code_imports_and_its_own_tests_pass(projects):
    """Every generated module imports in a fresh interpreter, and the `tests/` that `new`
    wrote pass under pytest."""
    src_dirs = [str(root / "src") for root in projects.values()]
    code = (
        "import importlib, pathlib, sys, dspy\n"
        "for src in sys.argv[1:]:\n"
        "    for path in sorted(pathlib.Path(src).glob('*/modules/*.py')):\n"
        "        if path.name.startswith('_'): continue\n"
        "        module = importlib.import_module(f'{path.parent.parent.name}.modules.{path.stem}')\n"
        "        classes = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, dspy.Module) and v.__module__ == module.__name__]\n"
        "        assert len(classes) == 1, (path, classes)\n"
        "        classes[0]()\n"
        "        print(classes[0].__name__)\n"
    )
    env = {"PYTHONPATH": ":".join(src_dirs), "PATH": str(Path(sys.executable).parent)}
    proc = subprocess.run([sys.executable, "-c", code, *src_dirs], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    classes = set(proc.stdout.split())
    for module_type, (_, suffix) in MODULE_TYPES.items():
        assert {f"Main{suffix}", f"Everything{suffix}", f"Inline{suffix}"} <= classes, module_type
    tests = [str(root / "tests") for root in projects.values()]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--import-mode=importlib", *tests],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "12 passed" in proc.stdout


@pytest.fixture(scope="module")
def code_interpreter_works() -> bool:
    """ProgramOfThought runs code in DSPy's Deno/Pyodide sandbox, which needs Deno and npm."""
    code = "from dspy.primitives.python_interpreter import PythonInterpreter\nwith PythonInterpreter() as i: i.execute('1+1')"
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        return False
    return proc.returncode == 0


def check_outputs(response: httpx.Response, expected: dict) -> None:
    assert response.status_code == 200, response.text
    body = response.json()
    for field, value in expected.items():
        assert body[field] == value, (field, body)


@pytest.mark.parametrize("module_type", list(MODULE_TYPES))
def test_served_with_mock_lm(projects, module_type, code_interpreter_works):
    root = projects[module_type]
    signature, suffix = MODULE_TYPES[module_type]
    with start_server(root, "--mock-lm", timeout=90) as server:
        base = server.url
        programs = httpx.get(f"{base}/programs", timeout=10).json()["programs"]
        names = {p["name"] for p in programs}
        assert names == {f"Main{suffix}", f"Everything{suffix}", f"Inline{suffix}"}
        if module_type == "ProgramOfThought" and not code_interpreter_works:
            pytest.skip("ProgramOfThought needs DSPy's Deno/Pyodide code interpreter, not available here")
        _, body, expected = SIGNATURES[signature]
        check_outputs(httpx.post(f"{base}/Main{suffix}", json=body, timeout=60), expected)
        check_outputs(httpx.post(f"{base}/Everything{suffix}", json=ALL_BODY, timeout=60), ALL_OUTPUTS)
        check_outputs(httpx.post(f"{base}/Inline{suffix}", json={"question": "hi"}, timeout=60), {"answer": ANSWER})
