"""Start-up: config and project errors, discovery, readiness, optimized state."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import dspy
import httpx
import pytest
from serving import DEFAULT_CONFIG, DSPY_CLI, free_port, http_ok, make_project, run_cli, start_server, wait_until

ECHO = {
    "echo.py": """
        import dspy

        class Echo(dspy.Module):
            def forward(self, text: str) -> dict:
                return {"echo": text}
    """
}


def serve_once(root, *args, env=None):
    """Run a serve that must exit on its own with an error. A free port, so the failure under test
    is reached as any user (a privileged port fails to bind first when not root); run_cli's
    timeout ends it if it serves instead."""
    port = str(free_port())
    return run_cli(
        "serve", "--system", "--host", "127.0.0.1", "--port", port, "--no-save-openapi", *args, cwd=root, env=env
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("", "Configuration error: Configuration file is empty"),
        ("other: value\n", "Configuration error: Configuration must contain 'models' section"),
        ("models:\n  registry: {}\n", "Configuration error: Configuration must specify 'models.default'"),
        ("models:\n  default: a\n", "Configuration error: Configuration must contain 'models.registry'"),
        (
            "models:\n  default: nope\n  registry:\n    a: {model: openai/x}\n",
            "✓ Configuration loaded\nError creating application: Model alias 'nope' not found in registry.\nAvailable models: a",
        ),
        ("models: [\n", "Configuration error: Failed to parse configuration file: "),
        (
            "models:\n  default: a\n  registry:\n    a: {model: openai/x, api_key: '${{ env.DSPY_TEST_UNSET_VAR }}'}\n",
            "Configuration error: Environment variable 'DSPY_TEST_UNSET_VAR' is not set",
        ),
    ],
)
def test_config_errors_exit_1_with_upstream_messages(tmp_path, config, message):
    make_project(tmp_path, ECHO, config)
    result = serve_once(tmp_path)
    assert result.returncode == 1
    assert message in result.stdout
    assert result.stderr.strip().endswith("Aborted!")
    assert "Traceback" not in result.stdout + result.stderr


def test_yaml_error_names_the_file_the_line_and_the_fix(tmp_path):
    # What upstream's `new --model "?"` wrote; the error named neither the file nor a fix.
    make_project(tmp_path, ECHO, "models:\n  default: a\n  registry:\n    a:\n      model: ?\n")
    result = serve_once(tmp_path)
    assert result.returncode == 1
    assert (
        "Configuration error: Failed to parse configuration file: mapping keys are not allowed in this context at line 5 "
        f"column 14 (in {tmp_path / 'dspy.config.yaml'}). Check the YAML there: values containing ': ', ' #' or starting "
        "with '?', '*', '&', '!' or '@' must be quoted." in result.stdout
    )


def test_env_interpolation_and_dotenv(tmp_path, mock_lm):
    config = DEFAULT_CONFIG.replace("api_base: {api_base}", "api_base: ${{{{ env.MOCK_BASE }}}}")
    env_reader = {
        "env_reader.py": """
        import os
        import dspy

        class EnvReader(dspy.Module):
            def forward(self, name: str) -> dict:
                return {"value": os.getenv(name)}
    """
    }
    dotenv = f"MOCK_BASE={mock_lm.api_base}\nTOOL_API_KEY=from-dotenv\nALREADY_SET=from-dotenv\n"
    make_project(tmp_path, {**ECHO, **env_reader}, config.format(), extra_files={".env": dotenv})
    server = start_server(tmp_path, env={"ALREADY_SET": "from-shell"})
    try:
        spec = server.client.get("/openapi.json").json()
        assert spec["info"]["title"] == "test-project"
        assert server.post("/Echo", {"text": "x"}).json() == {"echo": "x"}
        # Module code sees .env through os.environ, and .env never overrides the shell.
        assert server.post("/EnvReader", {"name": "TOOL_API_KEY"}).json() == {"value": "from-dotenv"}
        assert server.post("/EnvReader", {"name": "ALREADY_SET"}).json() == {"value": "from-shell"}
    finally:
        server.stop()


def test_project_errors(tmp_path):
    result = serve_once(tmp_path)
    assert result.returncode == 1
    assert "Error: Not a valid DSPy project directory" in result.stdout
    assert "Required files: dspy.config.yaml, src/" in result.stdout

    make_project(tmp_path / "two", ECHO, DEFAULT_CONFIG)
    (tmp_path / "two" / "src" / "other").mkdir()
    (tmp_path / "two" / "src" / "other" / "__init__.py").write_text("")
    result = serve_once(tmp_path / "two")
    assert result.returncode == 1 and "Error: Could not find package in src/" in result.stdout

    root = make_project(tmp_path / "nomodules", {}, DEFAULT_CONFIG)
    for child in (root / "src" / "testpkg" / "modules").iterdir():
        child.unlink()
    (root / "src" / "testpkg" / "modules").rmdir()
    result = serve_once(root)
    assert result.returncode == 1 and "Error: modules directory not found: " in result.stdout


def test_duplicate_class_names_abort(tmp_path):
    modules = {"a.py": ECHO["echo.py"], "b.py": ECHO["echo.py"]}
    make_project(tmp_path, modules, DEFAULT_CONFIG.format(api_base="http://127.0.0.1:9/v1"))
    result = serve_once(tmp_path)
    assert result.returncode == 1
    assert "Error creating application: Error: Duplicate module names found: Echo" in result.stdout


def test_port_in_use_is_a_clear_error(serve):
    server = serve(ECHO)
    result = run_cli("serve", "--system", "--host", "127.0.0.1", "--port", str(server.port), cwd=server.root)
    assert result.returncode == 1
    assert f"could not listen on 127.0.0.1:{server.port}" in result.stdout
    assert "--port" in result.stdout


BROKEN = {
    "broken.py": "import dspy\nraise RuntimeError('broken on purpose')\n",
    "needs_dep.py": "import surely_not_installed_pkg\n",
    "syntax.py": "import dspy\n\nclass Oops(dspy.Module)\n    pass\n",
    "no_init.py": """
        import dspy

        class NoInit(dspy.Module):
            def __init__(self):
                raise ValueError("needs a tool")

            def forward(self, text: str) -> dict:
                return {}
    """,
}

BROKEN_ERRORS = [
    {"file": "src/testpkg/modules/broken.py", "line": 2, "error": "RuntimeError: broken on purpose", "program": None},
    {
        "file": "src/testpkg/modules/needs_dep.py",
        "line": 1,
        "error": "ModuleNotFoundError: No module named 'surely_not_installed_pkg'",
        "program": None,
    },
    {"file": "src/testpkg/modules/no_init.py", "line": 6, "error": "ValueError: needs a tool", "program": "NoInit"},
    {"file": "src/testpkg/modules/syntax.py", "line": 3, "error": "SyntaxError: expected ':'", "program": None},
]


def test_broken_module_files_are_reported_and_the_rest_is_served(serve):
    modules = {
        **ECHO,
        **BROKEN,
        "_private.py": "raise SystemExit('must not be imported')\n",
        "reexport.py": "from testpkg.modules.echo import Echo as Again\n",
    }
    server = serve(modules)
    # NoInit is served (each request retries its constructor, as upstream); the files are not.
    assert [p["name"] for p in server.client.get("/programs").json()["programs"]] == ["Echo", "NoInit"]
    # Upstream answered {"status": "ready", "programs": N} as if nothing had failed.
    assert server.client.get("/health/ready").json() == {"status": "ready", "programs": 2, "errors": BROKEN_ERRORS}
    stdout = server.stdout()
    assert "Failed to load:\n\n" in stdout
    assert "  ✗ src/testpkg/modules/syntax.py:3: SyntaxError: expected ':'\n" in stdout
    assert "  ✗ src/testpkg/modules/broken.py:2: RuntimeError: broken on purpose\n" in stdout
    stderr = server.stderr()
    assert "Error loading module src/testpkg/modules/broken.py:2: RuntimeError: broken on purpose" in stderr
    assert "Error loading module src/testpkg/modules/syntax.py:3: SyntaxError: expected ':'" in stderr
    assert "Missing dependency detected while importing needs_dep.py" in stderr
    assert "Traceback" not in stderr


def test_a_clean_project_is_ready_without_errors(serve):
    server = serve(ECHO)
    assert server.client.get("/health/ready").json() == {"status": "ready", "programs": 1}
    # An upstream-shaped config (app_id, models, registry entries) draws no warning.
    assert "unknown key" not in server.stderr()


def test_unknown_config_keys_are_warned_by_name_and_the_rest_applies(serve):
    config = DEFAULT_CONFIG + "server:\n  max_conections: 5\n  max_concurrent_per_program: 3\ncolour: blue\n"
    server = serve(ECHO, config)
    stderr = server.stderr()
    assert "dspy.config.yaml: unknown key `server.max_conections` is ignored. Did you mean `max_connections`?" in stderr
    assert "dspy.config.yaml: unknown key `colour` is ignored." in stderr
    assert stderr.count("unknown key") == 2
    assert "  max concurrent requests per program: 3\n" in server.stdout()
    assert server.post("/Echo", {"text": "hi"}).json() == {"echo": "hi"}


def http_runtime_threads(pid: int) -> int:
    """Threads of the server's tokio runtime, by the name it gives them."""
    names = (task / "comm" for task in Path(f"/proc/{pid}/task").iterdir())
    return sum(1 for name in names if name.read_text().strip() == "dspy-tokio")


@pytest.mark.parametrize(
    ("config", "args", "threads"),
    [
        ("", (), 1),
        ("server:\n  runtime_threads: 3\n", (), 3),
        ("server:\n  runtime_threads: 3\n", ("--runtime-threads", "2"), 2),
    ],
    ids=["default", "config", "flag-wins"],
)
def test_runtime_threads_flag_then_config_then_one(serve, config, args, threads):
    server = serve(ECHO, DEFAULT_CONFIG + config, *args)
    # Counted before any request: tokio's blocking pool (same name) starts threads only on demand.
    assert http_runtime_threads(server.process.pid) == threads
    assert f"  HTTP runtime threads: {threads}\n" in server.stdout()
    assert server.post("/Echo", {"text": "hi"}).json() == {"echo": "hi"}


def test_strict_exits_1_when_a_module_file_fails(tmp_path):
    make_project(
        tmp_path, {**ECHO, "syntax.py": BROKEN["syntax.py"]}, DEFAULT_CONFIG.format(api_base="http://127.0.0.1:9/v1")
    )
    result = run_cli(
        "serve",
        "--system",
        "--strict",
        "--host",
        "127.0.0.1",
        "--port",
        str(free_port()),
        "--no-save-openapi",
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "  ✗ src/testpkg/modules/syntax.py:3: SyntaxError: expected ':'" in result.stdout
    assert (
        'Error: --strict: 1 start-up error(s), listed above under "Failed to load". Fix them, or serve without --strict.'
        in result.stdout
    )
    assert result.stderr.endswith("Aborted!\n")


def test_strict_serves_a_clean_project(serve):
    server = serve(ECHO, None, "--strict")
    assert server.post("/Echo", {"text": "x"}).json() == {"echo": "x"}


def test_module_exception_logs_a_traceback_on_the_server_only(serve):
    failing = {
        "failing.py": """
        import dspy

        def helper(text):
            raise KeyError(f"no such key: {text}")

        class Failing(dspy.Module):
            def forward(self, text: str) -> dict:
                return helper(text)
    """
    }
    server = serve(failing)
    response = server.post("/Failing", {"text": "x"})
    assert response.status_code == 500
    assert response.json() == {"detail": "'no such key: x'"}
    assert "Traceback" not in response.text
    stderr = server.stderr()
    assert (
        " - ERROR - Error executing Failing: KeyError: 'no such key: x'\nTraceback (most recent call last):\n" in stderr
    )
    assert 'failing.py", line 5, in helper' in stderr


def test_live_answers_while_modules_import_and_ready_flips_after(tmp_path, mock_lm):
    slow = {"slow.py": "import time\ntime.sleep(4)\n" + ECHO["echo.py"].replace("\n        ", "\n")}
    make_project(tmp_path, slow, DEFAULT_CONFIG.format(api_base=mock_lm.api_base))
    started = time.monotonic()
    server = start_server(tmp_path, wait_ready=False)
    try:
        assert time.monotonic() - started < 3.5, "live should answer before the 4 s import finishes"
        ready = server.client.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["status"] == "not_ready"
        loading = server.client.post("/Echo", json={"text": "x"})
        assert loading.status_code == 503
        # Every route that needs the project answers the same 503 while loading.
        for path in ("/programs", "/openapi.json", "/api/metrics", "/api/metrics/Echo", "/api/logs/Echo", "/metrics"):
            answer = server.client.get(path)
            assert (answer.status_code, answer.json()) == (503, loading.json()), path
        assert loading.json() == {
            "detail": "The server is still loading programs. Retry when GET /health/ready answers 200."
        }
        assert wait_until(lambda: server.client.get("/health/ready").status_code == 200, 30)
        assert server.post("/Echo", {"text": "x"}).json() == {"echo": "x"}
    finally:
        server.stop()


def test_optimized_state_is_loaded_at_startup(serve, tmp_path):
    module = '''
        import dspy

        class Sig(dspy.Signature):
            """Answer."""
            question: str = dspy.InputField()
            answer: str = dspy.OutputField()

        class Tuned(dspy.Module):
            def __init__(self):
                super().__init__()
                self.predict = dspy.Predict(Sig)

            def forward(self, question: str) -> dict:
                return {"demos": len(self.predict.demos), "instructions": self.predict.signature.instructions}
    '''
    saved = tuned_state(module)
    server = serve({"tuned.py": module}, extra_files={"src/testpkg/optimized/Tuned.json": saved})
    assert server.post("/Tuned", {"question": "q"}).json() == {"demos": 1, "instructions": "Tuned instructions"}


def tuned_state(module_source: str) -> str:
    """What `program.save()` writes for the module after 'optimizing' it by hand."""
    namespace: dict = {}
    exec(textwrap.dedent(module_source), namespace)  # noqa: S102 - test fixture source
    program = namespace["Tuned"]()
    program.predict.demos = [dspy.Example(question="q", answer="a")]
    program.predict.signature = program.predict.signature.with_instructions("Tuned instructions")
    path = Path(tempfile.mkdtemp()) / "Tuned.json"
    program.save(str(path))
    return path.read_text()


def test_broken_optimized_state_names_the_file(serve, tmp_path):
    module = ECHO["echo.py"]
    make_project(
        tmp_path,
        {"echo.py": module},
        DEFAULT_CONFIG.format(api_base="http://127.0.0.1:9/v1"),
        extra_files={"src/testpkg/optimized/Echo.json": "{not json"},
    )
    result = serve_once(tmp_path)
    assert result.returncode == 1
    assert "Could not load optimized state for Echo from " in result.stdout


def test_openapi_document_describes_programs(serve):
    modules = {
        "typed.py": """
        from typing import Optional
        import dspy

        class Typed(dspy.Module):
            def forward(self, question: str, n: Optional[int] = None) -> dspy.Prediction:
                return dspy.Prediction(answer=question)
    """
    }
    server = serve(modules)
    spec = server.client.get("/openapi.json").json()
    assert spec["openapi"] == "3.1.0"
    operation = spec["paths"]["/Typed"]["post"]
    assert operation["operationId"] == "run_program_Typed_post"
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TypedRequest"
    }
    assert set(operation["responses"]) >= {"200", "422", "429", "500", "503"}
    assert spec["components"]["schemas"]["TypedRequest"]["required"] == ["question"]
    assert spec["info"]["x-dspy-config"] == {"default_model": "alpha", "programs_count": 1}
    assert spec["info"]["x-dspy-program-models"] == {"Typed": "alpha"}


def test_openapi_file_saved_unless_disabled(tmp_path, mock_lm):
    make_project(tmp_path, ECHO, DEFAULT_CONFIG.format(api_base=mock_lm.api_base))
    server = start_server(tmp_path, "--save-openapi", "--openapi-format", "YAML")
    try:
        assert "✓ OpenAPI spec saved: openapi.yaml" in server.stdout()
        assert "/Echo:" in (tmp_path / "openapi.yaml").read_text()
    finally:
        server.stop()
    assert not (tmp_path / "openapi.json").exists()


def test_sigterm_stops_cleanly(serve):
    server = serve(ECHO)
    assert server.post("/Echo", {"text": "x"}).status_code == 200
    assert server.stop() == 0
    assert "Server stopped" in server.stdout()
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/health/live", timeout=1)


def test_python_flag_reexecs_and_keeps_every_flag(tmp_path, mock_lm):
    make_project(tmp_path, ECHO, DEFAULT_CONFIG.format(api_base=mock_lm.api_base))
    port = free_port()
    command = [
        DSPY_CLI,
        "serve",
        "--python",
        sys.executable,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-save-openapi",
    ]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/health/ready"), 60)
        assert httpx.post(f"http://127.0.0.1:{port}/Echo", json={"text": "x"}).json() == {"echo": "x"}
        # --no-save-openapi survived the re-exec (upstream lost it on this path).
        assert not (tmp_path / "openapi.json").exists()
    finally:
        process.terminate()
        process.wait(30)


def test_project_venv_without_dspy_cli_is_explained(tmp_path):
    make_project(tmp_path, ECHO, DEFAULT_CONFIG.format(api_base="http://127.0.0.1:9/v1"))
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / ".venv")], check=True)
    result = run_cli("serve", "--port", "1", cwd=tmp_path)
    assert result.returncode == 1
    assert "dspy-cli is not installed in your project virtual environment" in result.stdout
    assert "You can bypass this check with --system" in result.stdout


def test_nested_logs_dir_is_created(tmp_path, mock_lm):
    make_project(tmp_path, ECHO, DEFAULT_CONFIG.format(api_base=mock_lm.api_base))
    server = start_server(tmp_path, "--logs-dir", "var/deep/logs")
    try:
        assert server.post("/Echo", {"text": "x"}).json() == {"echo": "x"}
        assert len((tmp_path / "var" / "deep" / "logs" / "Echo.log").read_text().splitlines()) == 1
        assert "logs: " + str(tmp_path / "var" / "deep" / "logs") in server.stdout()
    finally:
        server.stop()
