"""tests/test_config.py of dspy-cli 0.1.13, where it reaches the command line: the config that
`new` writes is what `serve` loads, and a missing, empty or model-less config is reported."""

from __future__ import annotations


def test_missing_config_is_not_a_project(cli, project):
    (project / "dspy.config.yaml").unlink()
    result = cli("g", "module", "x", cwd=project)
    assert (result.returncode, result.stderr) == (1, "Aborted!\n")
    assert "Error: Not in a valid DSPy project directory\n" in result.stdout
    assert "Required files: dspy.config.yaml, src/\n" in result.stdout


def test_empty_config(cli, project):
    (project / "dspy.config.yaml").write_text("")
    result = cli("serve", "--system", "--no-save-openapi", cwd=project)
    assert result.returncode == 1
    assert "Configuration error: Configuration file is empty" in result.stdout
    assert "empty" in result.stdout.lower()
    assert result.stderr.endswith("Aborted!\n")


def test_config_without_models(cli, project):
    (project / "dspy.config.yaml").write_text("other: value\n")
    result = cli("serve", "--system", "--no-save-openapi", cwd=project)
    assert result.returncode == 1
    assert "Configuration error: Configuration must contain 'models' section" in result.stdout
