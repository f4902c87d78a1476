"""`dspy-cli new`: tests/test_commands_smoke.py of dspy-cli 0.1.13, the `new` rows of the
error table (cli.md §8) and the generated files (cli.md §2.4-2.6)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from scaffolding import SIGNATURE_HINT, new_args, no_answer

PROJECT_FILES = ["pyproject.toml", "dspy.config.yaml", "Dockerfile", ".dockerignore", ".env", "README.md", ".gitignore"]

ACME_OUTPUT = """
Creating new DSPy project: acme-app
  Package name: acme_app
  Initial program: main
  Module type: Predict
  Signature: question -> answer
  Model: openai/gpt-4o-mini

  Created: acme-app/src/acme_app
  Created: acme-app/src/acme_app/modules
  Created: acme-app/src/acme_app/signatures
  Created: acme-app/src/acme_app/optimizers
  Created: acme-app/src/acme_app/metrics
  Created: acme-app/src/acme_app/utils
  Created: acme-app/data
  Created: acme-app/logs
  Created: acme-app/tests
  Created: acme-app/pyproject.toml
  Created: acme-app/dspy.config.yaml
  Created: acme-app/Dockerfile
  Created: acme-app/.dockerignore
  Created: acme-app/.env
  Created: acme-app/README.md
  Created: acme-app/.gitignore
  Created: acme_app/modules/main_predict.py
  Created: acme_app/signatures/main.py
  Created: tests/test_modules.py
  Initialized git repository
✓ Project created successfully!

Next steps:
  cd acme-app
  # Add your OPENAI_API_KEY to .env
  mkdir -p wheels && cp /path/to/dspy-cli-rs/dist/dspy_cli_rs-*.whl wheels/
  python -m venv .venv && .venv/bin/pip install --find-links wheels -e .   # or: uv sync
  dspy-cli serve
"""


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if ".git" not in p.relative_to(root).parts)


def test_new_creates_the_upstream_project(cli, tmp_path):
    result = cli(*new_args("acme-app"))
    assert (result.returncode, result.stdout, result.stderr) == (0, ACME_OUTPUT, "")
    root = tmp_path / "acme-app"
    for name in PROJECT_FILES:
        assert (root / name).is_file(), name
    assert tree(root) == sorted(
        [
            *PROJECT_FILES,
            "data",
            "logs",
            "src",
            "src/acme_app",
            "src/acme_app/__init__.py",
            *[f"src/acme_app/{d}" for d in ("metrics", "modules", "optimizers", "signatures", "utils")],
            *[f"src/acme_app/{d}/__init__.py" for d in ("metrics", "modules", "optimizers", "signatures", "utils")],
            "src/acme_app/modules/main_predict.py",
            "src/acme_app/signatures/main.py",
            "tests",
            "tests/test_modules.py",
        ]
    )
    assert (root / "src/acme_app/__init__.py").read_text() == '"""DSPy project: acme_app."""\n'
    assert (root / "src/acme_app/modules/__init__.py").read_text() == ""
    assert (root / ".git").is_dir()


def test_generated_files_match_upstream(project):
    assert (project / "src/acme_app/signatures/main.py").read_text() == (
        '"""Signature definitions for main."""\n\nimport dspy\n\nclass MainSignature(dspy.Signature):\n'
        '    """\n    """\n\n    question: str = dspy.InputField(desc="")\n'
        '    answer: str = dspy.OutputField(desc="")\n'
    )
    assert (project / "src/acme_app/modules/main_predict.py").read_text() == (
        "import dspy\nfrom acme_app.signatures.main import MainSignature\n\n\n"
        "class MainPredict(dspy.Module):\n\n    def __init__(self):\n        super().__init__()\n"
        "        self.predictor = dspy.Predict(MainSignature)\n\n"
        "    def forward(self, question: str) -> dspy.Prediction:\n"
        "        return self.predictor(question=question)\n"
    )
    assert (project / "dspy.config.yaml").read_text() == (
        "# DSPy Configuration\n# Define your language models and their settings here\n\napp_id: acme-app\n"
        "models:\n  # The default model to use if no per-program override is specified\n"
        "  default: openai:gpt-4o-mini\n\n  # Model registry - define all available models here\n"
        "  registry:\n    openai:gpt-4o-mini:\n      model: openai/gpt-4o-mini\n      model_type: chat\n"
        "      max_tokens: 8192\n      temperature: 1.0\n      env: OPENAI_API_KEY\n\n"
        "# Optional: Override the model for specific programs\n# program_models:\n"
        "#   MySpecialProgram: openai:gpt-4o-mini\n"
    )
    assert (project / ".env").read_text() == (
        "# API Keys and Secrets\n# Add your API keys here - this file is automatically added to .gitignore\n\n"
        "# OPENAI_API_KEY for your LLM provider\n# Add your API key here\nOPENAI_API_KEY=\n"
    )
    assert (project / ".dockerignore").read_text() == ".git\n.env\n__pycache__\n*.pyc\n.vscode\n.mypy_cache\nlogs/"
    tests = (project / "tests/test_modules.py").read_text()
    assert "from acme_app.modules.main_predict import MainPredict\n" in tests
    assert "assert isinstance(module, dspy.Module)" in tests


def test_pyproject_depends_on_dspy_cli_rs_and_dspy(project):
    text = (project / "pyproject.toml").read_text()
    assert 'name = "acme-app"' in text
    assert 'dependencies = [\n    "dspy>=3.0.3",\n    "dspy-cli-rs"\n]' in text
    assert "dspy-ai" not in text
    assert '[tool.setuptools.packages.find]\nwhere = ["src"]' in text


def test_dockerfile_serves_without_reload_on_8000(project):
    text = (project / "Dockerfile").read_text()
    assert text.startswith("FROM python:3.11-slim\n")
    assert "RUN uv sync --no-dev\n" in text
    assert "EXPOSE 8000\n" in text
    # Upstream also passed --auth, which dspy-cli-rs refuses (not supported yet).
    assert 'CMD ["uv", "run", "dspy-cli", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-reload"]' in text


def test_readme_explains_async_modules_and_production(project):
    text = (project / "README.md").read_text()
    assert text.startswith("# acme-app\n")
    assert "curl -X POST http://localhost:8000/MainPredict \\\n" in text
    assert """-d '{"question": "your question here"}'""" in text
    assert "### Async Modules" in text
    assert "async def aforward(self, question: str) -> dspy.Prediction:" in text
    assert "return await self.predictor.acall(question=question)" in text
    assert "## Production" in text
    assert "dspy-cli serve --no-reload --host 0.0.0.0" in text
    assert "does not support `--auth` yet" in text
    # How to install the wheel while dspy-cli-rs is not on the package index.
    assert "mkdir -p wheels && cp /path/to/dspy-cli-rs/dist/dspy_cli_rs-*.whl wheels/\n" in text
    assert "python -m venv .venv && .venv/bin/pip install --find-links wheels -e .\n" in text
    assert "docker run -p 8000:8000 --env-file .env acme-app" in text


def test_typed_signature_fields(cli, tmp_path):
    result = cli(
        *new_args("my-project", **{"--program-name": "analyzer", "--signature": "text, context: list[str] -> summary"})
    )
    assert result.returncode == 0, result.stdout
    package = tmp_path / "my-project/src/my_project"
    assert (package / "modules/analyzer_predict.py").is_file()
    signature = (package / "signatures/analyzer.py").read_text()
    assert "    text: str = dspy.InputField" in signature
    assert "    context: list[str] = dspy.InputField" in signature
    assert "    summary: str = dspy.OutputField" in signature
    module = (package / "modules/analyzer_predict.py").read_text()
    assert "def forward(self, text: str, context: list[str]) -> dspy.Prediction:" in module
    assert "return self.predictor(text=text, context=context)" in module


def test_signature_files_import_the_typing_names_they_use(cli, tmp_path):
    signature = "x: Optional[int], m: dict[str, Any] -> y: Literal['a', 'b'], z: int | None"
    assert cli(*new_args("typed", **{"--signature": signature})).returncode == 0
    package = tmp_path / "typed/src/typed"
    text = (package / "signatures/main.py").read_text()
    assert text.startswith(
        '"""Signature definitions for main."""\n\nfrom typing import Any, Literal, Optional\n\nimport dspy\n'
    )
    assert "    y: Literal['a', 'b'] = dspy.OutputField(desc=\"\")\n" in text
    assert '    z: Optional[int] = dspy.OutputField(desc="")\n' in text
    module = (package / "modules/main_predict.py").read_text()
    assert module.startswith(
        "from typing import Any, Optional\n\nimport dspy\nfrom typed.signatures.main import MainSignature\n"
    )


def test_quotes_around_the_signature_are_stripped(cli, tmp_path):
    result = cli(*new_args("quoted", **{"--signature": "  \"'post -> tags: list[str]'\" "}))
    assert result.returncode == 0
    assert "  Signature: post -> tags: list[str]\n" in result.stdout


def test_program_name_with_dashes_and_spaces_is_converted(cli, tmp_path):
    # tests/smoke_test.py of dspy-cli
    result = cli(
        *new_args(
            "test-project",
            **{"--program-name": "test-program", "--model": "anthropic/claude-sonnet-4-5", "--api-key": "test-api-key"},
        )
    )
    assert result.returncode == 0
    assert "Note: Converted program name 'test-program' to 'test_program' for Python compatibility\n" in result.stdout
    root = tmp_path / "test-project"
    assert (root / "src/test_project/modules/test_program_predict.py").read_text().count(
        "class TestProgramPredict("
    ) == 1
    assert (
        (root / ".env")
        .read_text()
        .endswith("# ANTHROPIC_API_KEY for your LLM provider\nANTHROPIC_API_KEY=test-api-key\n")
    )
    assert "# Add your" not in result.stdout
    spaced = cli(*new_args("spaced", **{"--program-name": "My Prog"}))
    assert "Note: Converted program name 'My Prog' to 'My_Prog' for Python compatibility\n" in spaced.stdout
    # Class names keep upstream's capitalize(): inner capitals are lowered.
    assert "class MyProgPredict(" in (tmp_path / "spaced/src/spaced/modules/my_prog_predict.py").read_text()


def test_project_dir_keeps_its_name_and_package_is_lowered(cli, tmp_path):
    assert cli(*new_args("My-App")).returncode == 0
    root = tmp_path / "My-App"
    assert (root / "src/my_app/__init__.py").is_file()
    assert "app_id: My-App\n" in (root / "dspy.config.yaml").read_text()


@pytest.mark.parametrize("model", ["o1-preview", "o1-mini", "o3-mini", "gpt-5", "gpt-5-mini", "gpt-5.1"])
def test_openai_reasoning_models_get_16000_tokens(cli, tmp_path, model):
    name = f"test-openai-{model.replace('.', '-')}"
    assert cli(*new_args(name, **{"--model": f"openai/{model}"})).returncode == 0
    assert "max_tokens: 16000" in (tmp_path / name / "dspy.config.yaml").read_text()


@pytest.mark.parametrize("model", ["openai/gpt-4o", "openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5"])
def test_other_models_get_8192_tokens(cli, tmp_path, model):
    name = "test-" + model.replace("/", "-").replace(".", "-")
    assert cli(*new_args(name, **{"--model": model})).returncode == 0
    config = (tmp_path / name / "dspy.config.yaml").read_text()
    assert "max_tokens: 8192" in config
    assert f"    {model.replace('/', ':')}:\n      model: {model}\n" in config


def test_local_model_needs_no_key(cli, tmp_path):
    args = new_args("local", **{"--model": "ollama/llama2"})
    args.remove("--api-key")
    args.remove("")
    result = cli(*args)
    assert result.returncode == 0
    assert "Detected local model provider: Ollama (local)\n" in result.stdout
    assert "# Add your" not in result.stdout
    root = tmp_path / "local"
    assert (root / ".env").read_text().endswith("\n# No API key required for local models\n")
    config = (root / "dspy.config.yaml").read_text()
    assert "      temperature: 1.0\n\n# Optional" in config
    assert "env:" not in config


def test_model_without_provider_means_openai(cli, tmp_path):
    assert cli(*new_args("bare", **{"--model": "gpt-4o"})).returncode == 0
    config = (tmp_path / "bare/dspy.config.yaml").read_text()
    assert "  default: gpt-4o\n" in config
    assert "      model: gpt-4o\n" in config
    assert "      env: OPENAI_API_KEY\n" in config


def test_unknown_provider_env_var(cli, tmp_path):
    result = cli(*new_args("ds", **{"--model": "deepseek/chat"}))
    assert "  # Add your DEEPSEEK_API_KEY to .env\n" in result.stdout
    assert (tmp_path / "ds/.env").read_text().endswith("DEEPSEEK_API_KEY=\n")


def test_git_missing_is_only_a_warning(cli, tmp_path):
    result = cli(*new_args("nogit"), env={"PATH": str(tmp_path / "empty-bin")})
    assert result.returncode == 0
    assert (
        "  Warning: git not found, skipping repository initialization\n✓ Project created successfully!" in result.stdout
    )
    assert not (tmp_path / "nogit/.git").exists()


# --- errors (cli.md §8): message, exit code, and nothing written ---------------------------------


def assert_aborted(result, stdout_tail: str):
    assert result.returncode == 1
    assert result.stderr == "Aborted!\n"
    assert result.stdout.endswith(stdout_tail), result.stdout


def test_existing_directory(cli, tmp_path):
    (tmp_path / "X").mkdir()
    (tmp_path / "X/keep").write_text("mine")
    assert_aborted(cli(*new_args("X")), "Error: Directory 'X' already exists\n")
    assert (tmp_path / "X/keep").read_text() == "mine"
    assert [p.name for p in (tmp_path / "X").iterdir()] == ["keep"]


def test_existing_file_counts_as_existing(cli, tmp_path):
    (tmp_path / "F").write_text("")
    assert_aborted(cli(*new_args("F")), "Error: Directory 'F' already exists\n")


def test_empty_name_prompts_then_aborts_on_eof(cli, tmp_path):
    for args in (["new", ""], ["new"]):
        result = cli(*args)
        prompt = "What is your project name? [my-project]: "
        expected = prompt + no_answer("the project name (dspy-cli new NAME)")
        assert (result.returncode, result.stdout, result.stderr) == (1, expected, "Aborted!\n")
    assert list(tmp_path.iterdir()) == []


def test_whitespace_name_is_asked_again(cli, tmp_path):
    result = cli("new", input="   \n")
    prompt = "What is your project name? [my-project]: "
    assert result.stdout == f"{prompt}Error: Project name cannot be empty\n{prompt}" + no_answer(
        "the project name (dspy-cli new NAME)"
    )
    assert (result.returncode, result.stderr) == (1, "Aborted!\n")
    assert list(tmp_path.iterdir()) == []


def test_invalid_program_name_fails_before_model_prompt(cli, tmp_path):
    result = cli("new", "valid-proj", "-p", "1invalid")
    assert_aborted(result, "Error: Program name '1invalid' is not a valid Python identifier\n")
    assert "not a valid Python identifier" in result.stdout
    assert "model" not in result.stdout.lower()
    assert list(tmp_path.iterdir()) == []


def test_unknown_module_type(cli, tmp_path):
    result = cli(*new_args("x", **{"--module-type": "Foo"}))
    assert_aborted(
        result,
        "Error: Unknown module type 'Foo'\n"
        "Available: Predict, ChainOfThought, CoT, ProgramOfThought, PoT, ReAct, MultiChainComparison, Refine\n",
    )
    assert cli(*new_args("x", **{"--module-type": "cot"})).returncode == 1  # keys are case-sensitive
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        ("foo bar", "Invalid signature format: 'foo bar', must contain exactly one '->'."),
        ("x -> y: Foo", "Unknown name: Foo"),
        ("a -> a", "Input and output fields must have distinct names, but found duplicates: 'a'."),
        ("a b -> c", "invalid syntax (<unknown>, line 1)"),
    ],
)
def test_invalid_signature(cli, tmp_path, signature, message):
    result = cli(*new_args("x", **{"--signature": signature}))
    assert_aborted(result, f"Error parsing signature string: {message}\n{SIGNATURE_HINT}\n")
    assert list(tmp_path.iterdir()) == []


def test_partial_flags_still_prompt(cli, tmp_path):
    result = cli("new", "gm", "-s", "q -> a", "--model", "ollama/x")
    assert (result.stdout, result.returncode, result.stderr) == (
        "What is the name of your first DSPy program? [my_program]: " + no_answer("--program-name NAME"),
        1,
        "Aborted!\n",
    )
    assert list(tmp_path.iterdir()) == []


def test_failed_write_removes_the_project(cli, tmp_path):
    # A file name longer than the file system allows fails after the directories and the
    # config files are written: the whole project must go.
    long_name = "p" * 260
    result = cli(*new_args("cleanup", **{"--program-name": long_name}))
    assert result.returncode == 1
    assert result.stderr == "Aborted!\n"
    assert "  Created: cleanup/.gitignore\nError creating project: could not write " in result.stdout
    assert "File name too long" in result.stdout
    assert not (tmp_path / "cleanup").exists()


def test_non_interactive_with_stdin_closed_needs_no_input(cli, tmp_path):
    # `--api-key ""` means "no key" without prompting, even for a cloud provider.
    result = cli(*new_args("quiet", **{"--model": "anthropic/claude-sonnet-4-5"}))
    assert result.returncode == 0
    assert "API key" not in result.stdout
    assert "  # Add your ANTHROPIC_API_KEY to .env\n" in result.stdout


# --- The first hour (issue 13): nothing broken is ever written. -----------------------------


def test_project_name_that_is_no_package_is_refused(cli, tmp_path):
    # Upstream wrote package `bad name!`; serving it then failed with a SyntaxError.
    result = cli(*new_args("bad name!"))
    assert_aborted(
        result,
        "Error: Project name 'bad name!' gives the Python package name 'bad name!', which is not a valid Python "
        "identifier. Use letters, digits, '-' and '_', starting with a letter (e.g. 'bad-name').\n",
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("model", ["?", "open ai/gpt-4o", "openai/"])
def test_model_that_is_no_model_string_is_refused(cli, tmp_path, model):
    # Upstream wrote `model: ?` into dspy.config.yaml, which then did not parse.
    result = cli(*new_args("x", **{"--model": model}))
    assert_aborted(
        result,
        f"Error: '{model}' is not a LiteLLM model string. Write it as provider/model, e.g. 'openai/gpt-4o-mini', "
        "'anthropic/claude-sonnet-4-5' or 'ollama/llama3'.\n",
    )
    assert list(tmp_path.iterdir()) == []


def test_signature_without_outputs_is_refused(cli, tmp_path):
    # Upstream accepted it and the endpoint answered {} to everything.
    result = cli(*new_args("x", **{"--signature": "question ->"}))
    assert_aborted(
        result,
        f"Error parsing signature string: 'question ->' has no output fields: name at least one after '->'.\n{SIGNATURE_HINT}\n",
    )
    assert list(tmp_path.iterdir()) == []


def test_keyword_program_name_is_refused(cli, tmp_path):
    # `from pkg.signatures.class import ...` would be a SyntaxError.
    result = cli(*new_args("x", **{"--program-name": "class"}))
    assert_aborted(
        result,
        "Error: Program name 'class' is a Python keyword, so the generated files could not be imported. "
        "Choose another name (e.g. 'class_program').\n",
    )
    assert list(tmp_path.iterdir()) == []


def test_api_key_with_a_line_break_is_refused(cli, tmp_path):
    result = cli(*new_args("x", **{"--api-key": "sk-1\nOTHER=2"}))
    assert_aborted(
        result, "Error: The API key contains a line break or another control character. Pass the key alone.\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_config_values_are_always_valid_yaml(cli, tmp_path):
    # `on` is a boolean to YAML 1.1 readers (PyYAML); `null` is null to every reader.
    assert cli(*new_args("on", **{"--model": "null"})).returncode == 0
    config = yaml.safe_load((tmp_path / "on/dspy.config.yaml").read_text())
    assert config["app_id"] == "on"
    assert config["models"]["default"] == "null"
    assert config["models"]["registry"] == {
        "null": {"model": "null", "model_type": "chat", "max_tokens": 8192, "temperature": 1.0, "env": "OPENAI_API_KEY"}
    }


@pytest.mark.parametrize(
    ("missing", "flag"),
    [
        ("--program-name", "--program-name NAME"),
        ("--module-type", "--module-type TYPE"),
        ("--signature", '--signature "inputs -> outputs"'),
        ("--model", "--model MODEL"),
        ("--api-key", '--api-key KEY (--api-key "" to add it to .env later)'),
    ],
)
def test_non_interactive_run_names_the_missing_flag(cli, tmp_path, missing, flag):
    args = new_args("x")
    at = args.index(missing)
    del args[at : at + 2]
    result = cli(*args)
    assert result.stdout.endswith(no_answer(flag)), result.stdout
    # (The API key prompt is preceded by getpass's warning on stderr, as upstream.)
    assert result.returncode == 1 and result.stderr.endswith("Aborted!\n")
    assert list(tmp_path.iterdir()) == []
