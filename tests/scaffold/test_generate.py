"""`dspy-cli generate` / `g` (cli.md §3): files, output, the `generate` rows of the error
table (§8) and the overwrite confirmation."""

from __future__ import annotations

import pytest
from scaffolding import SIGNATURE_HINT

MODULE_KEYS = "Predict, ChainOfThought, CoT, ProgramOfThought, PoT, ReAct, MultiChainComparison, Refine"


def package(project):
    return project / "src/acme_app"


def test_scaffold_with_module_and_signature(cli, project):
    result = cli("g", "scaffold", "categorizer", "-m", "CoT", "-s", "question -> answer", cwd=project)
    assert result.returncode == 0, result.stdout
    assert result.stdout == (
        "Generating scaffold for program: categorizer\n\n"
        "  Signature: question -> answer\n  Module type: CoT\n  Package: acme_app\n\n"
        "  Created: signatures/categorizer.py\n  Created: modules/categorizer_cot.py\n"
        "✓ Scaffold created successfully!\n\nFiles created:\n"
        "  • signatures/categorizer.py\n  • modules/categorizer_cot.py\n"
    )
    module = (package(project) / "modules/categorizer_cot.py").read_text()
    assert "from acme_app.signatures.categorizer import CategorizerSignature\n" in module
    assert "class CategorizerCoT(dspy.Module):" in module
    assert "self.predictor = dspy.ChainOfThought(CategorizerSignature)" in module
    assert (
        (package(project) / "signatures/categorizer.py")
        .read_text()
        .startswith('"""Signature definitions for categorizer."""')
    )


def test_scaffold_without_signature_uses_default_template(cli, project):
    result = cli("generate", "scaffold", "plain", cwd=project)
    assert result.returncode == 0
    assert "  Module type: Predict\n" in result.stdout
    assert "Signature:" not in result.stdout
    signature = (package(project) / "signatures/plain.py").read_text()
    assert signature.startswith("import dspy\n\nclass PlainSignature(dspy.Signature):")
    assert "def forward(self, question: str)" in (package(project) / "modules/plain_predict.py").read_text()


def test_scaffold_converts_dashes_only(cli, project):
    result = cli("g", "scaffold", "my-prog", "-s", "x: Optional[int] -> y", cwd=project)
    assert "  Note: Converted 'my-prog' to 'my_prog' for Python compatibility\n" in result.stdout
    module = (package(project) / "modules/my_prog_predict.py").read_text()
    assert module.startswith(
        "from typing import Optional\n\nimport dspy\nfrom acme_app.signatures.my_prog import MyProgSignature\n"
    )
    bad = cli("g", "scaffold", "my prog", cwd=project)
    assert bad.returncode == 1
    assert "Error: Program name 'my prog' is not a valid Python identifier\n" in bad.stdout


def test_signature_command(cli, project):
    result = cli("g", "signature", "tags", "-s", "post -> tags: list[str]", cwd=project)
    assert result.returncode == 0
    assert result.stdout == (
        "Generating signature: tags\n\n  Signature: post -> tags: list[str]\n  Package: acme_app\n\n"
        "  Created: signatures/tags.py\n✓ Signature created successfully!\n\nFile created: signatures/tags.py\n"
    )
    assert '    tags: list[str] = dspy.OutputField(desc="")\n' in (package(project) / "signatures/tags.py").read_text()
    default = cli("g", "signature", "plain", cwd=project)
    assert "  Using default signature (question: str -> answer: str)\n" in default.stdout


def test_module_command(cli, project):
    result = cli("g", "module", "my_mod", "-m", "Predict", cwd=project)
    assert result.returncode == 0
    assert result.stdout == (
        "Generating module: my_mod\n\n  Module type: Predict\n  Package: acme_app\n"
        '  Using inline signature: "question: str -> answer: str"\n\n'
        "  Created: modules/my_mod_predict.py\n✓ Module created successfully!\n\nFile created: modules/my_mod_predict.py\n"
    )
    assert (package(project) / "modules/my_mod_predict.py").read_text() == (
        "import dspy\n\n\nclass MyModPredict(dspy.Module):\n\n    def __init__(self):\n        super().__init__()\n"
        '        self.predictor = dspy.Predict("question: str -> answer: str")\n\n'
        "    def forward(self, question: str) -> dspy.Prediction:\n        return self.predictor(question=question)\n"
    )


@pytest.mark.parametrize(
    ("key", "file", "class_line"),
    [
        ("ReAct", "react_mod_react.py", "class ReactModReAct(dspy.Module):"),
        ("PoT", "pot_mod_pot.py", "class PotModPoT(dspy.Module):"),
        ("Refine", "refine_mod_refine.py", "class RefineModRefine(dspy.Module):"),
        ("MultiChainComparison", "mcc_mod_mcc.py", "class MccModMCC(dspy.Module):"),
        ("ChainOfThought", "cot_mod_cot.py", "class CotModCoT(dspy.Module):"),
    ],
)
def test_module_types(cli, project, key, file, class_line):
    name = file.rsplit("_", 1)[0]
    assert cli("g", "module", name, "-m", key, cwd=project).returncode == 0
    assert class_line in (package(project) / "modules" / file).read_text()


def test_gateway_api(cli, project):
    result = cli("g", "gateway", "slack-hook", "-p", "/webhooks/slack", "--public", cwd=project)
    assert result.returncode == 0
    assert result.stdout == (
        "Generating gateway: slack-hook\n\n  Note: Converted 'slack-hook' to 'slack_hook' for Python compatibility\n"
        "  Type: api (HTTP request/response transformation)\n  Package: acme_app\n  Path: /webhooks/slack\n"
        "  Auth required: False\n\n  Created: gateways/slack_hook_gateway.py\n✓ Gateway created successfully!\n\n"
        "File created: gateways/slack_hook_gateway.py\n\nNext steps:\n"
        "  1. Edit the gateway file to implement your transformation logic\n"
        "  2. Add 'gateway = YourGateway' to your module class\n"
    )
    gateways = package(project) / "gateways"
    assert (gateways / "__init__.py").read_text() == '"""Gateway definitions."""\n'
    text = (gateways / "slack_hook_gateway.py").read_text()
    assert "from dspy_cli.gateway import APIGateway\n" in text
    assert "class SlackHookGateway(APIGateway):" in text
    assert '    path = "/webhooks/slack"\n    method = "POST"\n    requires_auth = False\n' in text
    private = cli("g", "gateway", "hook", cwd=project)
    assert "  Path: /Hook\n  Auth required: True\n" in private.stdout
    assert "requires_auth = True" in (gateways / "hook_gateway.py").read_text()


def test_gateway_cron(cli, project):
    result = cli("g", "gateway", "moderator", "-t", "cron", "-s", "*/5 * * * *", cwd=project)
    assert result.returncode == 0
    assert (
        "  Type: cron (Scheduled background execution)\n  Package: acme_app\n  Schedule: */5 * * * *\n\n"
        in result.stdout
    )
    text = (package(project) / "gateways/moderator_cron_gateway.py").read_text()
    assert "class ModeratorGateway(CronGateway):" in text
    assert 'schedule = "*/5 * * * *"' in text


def test_generated_gateways_import(cli, project):
    assert cli("g", "gateway", "webhook", cwd=project).returncode == 0
    assert cli("g", "gateway", "nightly", "-t", "cron", cwd=project).returncode == 0
    import importlib.util

    for file, base in (("webhook_gateway.py", "APIGateway"), ("nightly_cron_gateway.py", "CronGateway")):
        spec = importlib.util.spec_from_file_location(file[:-3], package(project) / "gateways" / file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        gateway_class = next(v for k, v in vars(module).items() if k.endswith("Gateway") and k != base)
        assert any(cls.__name__ == base for cls in gateway_class.__mro__)


# --- errors ----------------------------------------------------------------------------------------


def assert_aborted(result, tail: str):
    assert (result.returncode, result.stderr) == (1, "Aborted!\n")
    assert result.stdout.endswith(tail), result.stdout


def test_outside_a_project(cli, tmp_path):
    result = cli("g", "scaffold", "test")
    assert_aborted(
        result,
        "Generating scaffold for program: test\n\nError: Not in a valid DSPy project directory\n\n"
        "Make sure you're in a directory created with 'dspy-cli new'\nRequired files: dspy.config.yaml, src/\n",
    )
    assert "Not in a valid DSPy project" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_two_packages_in_src(cli, tmp_path):
    (tmp_path / "dspy.config.yaml").write_text("")
    for name in ("a", "b"):
        (tmp_path / "src" / name).mkdir(parents=True)
        (tmp_path / "src" / name / "__init__.py").write_text("")
    result = cli("g", "signature", "foo")
    assert_aborted(result, "Generating signature: foo\n\nError: Could not find package in src/\n")


def test_unknown_module_type(cli, project):
    for command in ("scaffold", "module"):
        result = cli("g", command, "x", "-m", "Foo", cwd=project)
        assert_aborted(result, f"Error: Unknown module type 'Foo'\n\nAvailable module types: {MODULE_KEYS}\n")


def test_unknown_gateway_type(cli, project):
    result = cli("g", "gateway", "bad", "-t", "webhook", cwd=project)
    assert_aborted(result, "Error: Unknown gateway type 'webhook'\n\nAvailable gateway types: api, cron\n")
    assert not (package(project) / "gateways").exists()


def test_invalid_names(cli, project):
    assert_aborted(
        cli("g", "module", "9lives", cwd=project), "Error: Program name '9lives' is not a valid Python identifier\n"
    )
    assert_aborted(
        cli("g", "gateway", "1bad", cwd=project), "Error: Gateway name '1bad' is not a valid Python identifier\n"
    )


def test_invalid_signature(cli, project):
    result = cli("g", "scaffold", "bad", "-s", "nope", cwd=project)
    assert_aborted(
        result,
        f"Error parsing signature string: Invalid signature format: 'nope', must contain exactly one '->'.\n{SIGNATURE_HINT}\n",
    )
    assert not (package(project) / "signatures/bad.py").exists()


def test_overwrite_declined(cli, project):
    path = package(project) / "signatures/main.py"
    module = package(project) / "modules/main_cot.py"
    before = path.read_text()
    result = cli("g", "scaffold", "main", "-m", "CoT", "-s", "a -> b", cwd=project, input="n\n")
    assert_aborted(
        result,
        f"Warning: Signature file already exists: {path}\nOverwrite? [y/N]: Error creating scaffold: the existing file was kept (answer 'y' to overwrite it)\n",
    )
    # Declining the signature writes nothing, not even the (new) module file.
    assert path.read_text() == before
    assert not module.exists()
    # End of input counts as "no".
    assert_aborted(
        cli("g", "signature", "main", cwd=project),
        "Overwrite? [y/N]: Error creating signature: the existing file was kept (answer 'y' to overwrite it)\n",
    )


def test_overwrite_accepted_then_module_declined(cli, project):
    signature = package(project) / "signatures/main.py"
    module = package(project) / "modules/main_predict.py"
    module_before = module.read_text()
    result = cli("g", "scaffold", "main", "-s", "a -> b", cwd=project, input="maybe\ny\nn\n")
    assert_aborted(
        result,
        f"Warning: Module file already exists: {module}\nOverwrite? [y/N]: Error creating scaffold: the existing file was kept (answer 'y' to overwrite it)\n",
    )
    assert "Overwrite? [y/N]: Error: invalid input\nOverwrite? [y/N]:   Created: signatures/main.py\n" in result.stdout
    assert "    b: str = dspy.OutputField" in signature.read_text()
    assert module.read_text() == module_before


def test_overwrite_accepted(cli, project):
    result = cli("g", "module", "main", "-m", "Predict", cwd=project, input="y\n")
    assert result.returncode == 0
    assert '"question: str -> answer: str"' in (package(project) / "modules/main_predict.py").read_text()


# --- The first hour (issue 13): nothing broken is ever written. -----------------------------


def test_signature_without_outputs_is_refused(cli, project):
    result = cli("g", "scaffold", "empty", "-s", "question ->", cwd=project)
    assert_aborted(
        result,
        f"Error parsing signature string: 'question ->' has no output fields: name at least one after '->'.\n{SIGNATURE_HINT}\n",
    )
    assert not (package(project) / "signatures/empty.py").exists()


def test_keyword_names_are_refused(cli, project):
    result = cli("g", "module", "import", cwd=project)
    assert_aborted(
        result,
        "Error: Program name 'import' is a Python keyword, so the generated files could not be imported. Choose another name (e.g. 'import_program').\n",
    )
    assert not (package(project) / "modules/import_predict.py").exists()


def test_gateway_path_must_be_a_route(cli, project):
    result = cli("g", "gateway", "hook", "-p", "hooks/in", cwd=project)
    assert_aborted(
        result, "Error: Gateway path 'hooks/in' must start with '/' and contain no spaces (e.g. '/hooks/in').\n"
    )
    assert not (package(project) / "gateways/hook_gateway.py").exists()
