"""The interactive `new` and the overwrite question, typed at the real binary through a
pseudo-terminal (colours on, API key hidden), as a person would use them."""

from __future__ import annotations

import signal
import time

import pexpect
import pytest
from serving import DSPY_CLI, clean_env

CYAN, GREEN, BOLD, RESET = "\x1b[36m", "\x1b[32m", "\x1b[1m", "\x1b[0m"


def restore_default_sigint() -> None:
    # A test run started in the background (`&`, CI runners) ignores SIGINT, and an ignored
    # signal stays ignored across exec: without this, Ctrl+C would never reach the child.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn(args: list[str], cwd, env: dict[str, str] | None = None) -> pexpect.spawn:
    child = pexpect.spawn(
        str(DSPY_CLI),
        args,
        cwd=str(cwd),
        env=clean_env(env),
        encoding="utf-8",
        timeout=30,
        preexec_fn=restore_default_sigint,
    )
    child.setwinsize(40, 200)
    return child


def finish(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


def test_guided_flow_with_hidden_key(tmp_path):
    child = spawn(["new"], tmp_path)
    child.expect_exact(f"{CYAN}What is your project name?{RESET} [my-project]: ")
    child.sendline("demo")
    child.expect_exact(f"{CYAN}Would you like to specify your first program?{RESET} [Y/n]: ")
    child.sendline("y")
    child.expect_exact("What is the name of your first DSPy program?")
    child.sendline("tagger")
    child.expect_exact(f"  1. {GREEN}{BOLD}Predict{RESET} - Basic prediction module (default)")
    child.expect_exact("  6. Refine - Iterative refinement of outputs")
    child.expect_exact("Enter number or name [1]: ")
    child.sendline("7")
    child.expect_exact("Invalid choice. Please enter a number (1-6) or module name.")
    child.expect_exact("Enter number or name [1]: ")
    child.sendline("cot")
    child.expect_exact("Signature [question:str -> answer:str]: ")
    child.sendline("?")
    child.expect_exact("Let's build your signature step by step.")
    for name, ty in (("post", ""), ("count", "int")):
        child.expect_exact("  Field name (or press Enter to finish inputs): ")
        child.sendline(name)
        child.expect_exact("  Field type [str]: ")
        child.sendline(ty)
    child.expect_exact("  Field name (or press Enter to finish inputs): ")
    child.sendline("")
    child.expect_exact("  Field name (or press Enter to finish outputs): ")
    child.sendline("tags")
    child.expect_exact("  Field type [str]: ")
    child.sendline("list[str]")
    child.expect_exact("  Field name (or press Enter to finish outputs): ")
    child.sendline("")
    child.expect_exact("Generated signature: post, count:int -> tags:list[str]")
    child.expect_exact("Model [openai/gpt-5-mini]: ")
    child.sendline("anthropic/claude-sonnet-4-5")
    child.expect_exact("Enter your Anthropic API key:")
    child.expect_exact("  (This will be stored in .env as ANTHROPIC_API_KEY)")
    child.expect_exact("ANTHROPIC_API_KEY: ")
    child.sendline("sk-ant-secret-value")
    child.expect_exact("Creating new DSPy project: ")
    before_summary = child.before
    child.expect_exact("✓ Project created successfully!")
    assert finish(child) == 0
    # The key was typed with echo off: it never reached the screen.
    assert "sk-ant-secret-value" not in before_summary + child.before
    root = tmp_path / "demo"
    assert (root / ".env").read_text().endswith("ANTHROPIC_API_KEY=sk-ant-secret-value\n")
    signature = (root / "src/demo/signatures/tagger.py").read_text()
    assert '    count: int = dspy.InputField(desc="")\n    tags: list[str] = dspy.OutputField(desc="")\n' in signature
    assert (
        "self.predictor = dspy.ChainOfThought(TaggerSignature)" in (root / "src/demo/modules/tagger_cot.py").read_text()
    )


def test_defaults_path_asks_only_for_the_model(tmp_path):
    child = spawn(["new", "quick"], tmp_path)
    child.expect_exact("[Y/n]: ")
    child.sendline("n")
    child.expect_exact("Model [openai/gpt-5-mini]: ")
    child.sendline("ollama/llama2")
    child.expect_exact("Detected local model provider: Ollama (local)")
    child.expect_exact("  Module type: Predict")
    child.expect_exact("  Signature: question:str -> answer:str")
    assert finish(child) == 0
    # The "don't customize" path writes upstream's default signature template.
    assert (
        (tmp_path / "quick/src/quick/signatures/my_program.py")
        .read_text()
        .startswith("import dspy\n\nclass MyProgramSignature")
    )


def test_key_found_in_environment_is_masked_and_offered(tmp_path):
    child = spawn(
        ["new", "envkey", "-p", "main", "-m", "Predict", "-s", "q -> a"],
        tmp_path,
        env={"OPENAI_API_KEY": "sk-1234567890abcdefXYZW"},
    )
    child.expect_exact("Model [openai/gpt-5-mini]: ")
    child.sendline("")
    child.expect_exact("Found OPENAI_API_KEY in environment: sk-12345...XYZW")
    child.expect_exact("Proceed with this API key? [Y/n]: ")
    child.sendline("")
    assert finish(child) == 0
    assert "sk-1234567890abcdefXYZW" not in child.before
    assert (tmp_path / "envkey/.env").read_text().endswith("OPENAI_API_KEY=sk-1234567890abcdefXYZW\n")


def test_signature_prompt_default_and_fallback(tmp_path):
    # Accepting the default string parses it: the file is generated from its fields.
    child = spawn(["new", "accepted", "-p", "main", "-m", "Predict", "--model", "ollama/x"], tmp_path)
    child.expect_exact("Signature [question:str -> answer:str]: ")
    child.sendline("")
    assert finish(child) == 0
    accepted = (tmp_path / "accepted/src/accepted/signatures/main.py").read_text()
    assert accepted.startswith('"""Signature definitions for main."""\n')
    # A string that does not parse is asked again (upstream fell back to the default signature),
    # and so is one without outputs, which would serve an endpoint that always answers {}.
    child = spawn(["new", "reask", "-p", "main", "-m", "Predict", "--model", "ollama/x"], tmp_path)
    child.expect_exact("Signature [question:str -> answer:str]: ")
    child.sendline("not a signature")
    child.expect_exact(
        "Error parsing signature string: Invalid signature format: 'not a signature', must contain exactly one '->'."
    )
    child.expect_exact('Write it as "inputs -> outputs"')
    child.expect_exact("Signature [question:str -> answer:str]: ")
    child.sendline("question ->")
    child.expect_exact(
        "Error parsing signature string: 'question ->' has no output fields: name at least one after '->'."
    )
    child.expect_exact("Signature [question:str -> answer:str]: ")
    child.sendline("text -> summary")
    child.expect_exact("  Signature: text -> summary")
    assert finish(child) == 0
    assert "summary: str = dspy.OutputField" in (tmp_path / "reask/src/reask/signatures/main.py").read_text()


def test_bad_answers_are_asked_again(tmp_path):
    # Each question re-asks on an answer that would write a broken project, as click prompts do.
    (tmp_path / "taken").mkdir()
    child = spawn(["new"], tmp_path)
    child.expect_exact("What is your project name?")
    child.sendline("bad name!")
    child.expect_exact(
        "Error: Project name 'bad name!' gives the Python package name 'bad name!', which is not a valid Python identifier."
    )
    child.expect_exact("(e.g. 'bad-name').")
    child.expect_exact("What is your project name?")
    child.sendline("taken")
    child.expect_exact("Error: Directory 'taken' already exists")
    child.expect_exact("What is your project name?")
    child.sendline("good-name")
    child.expect_exact("[Y/n]: ")
    child.sendline("y")
    child.expect_exact("What is the name of your first DSPy program?")
    child.sendline("1abc")
    child.expect_exact("Error: Program name '1abc' is not a valid Python identifier")
    child.expect_exact("What is the name of your first DSPy program?")
    child.sendline("class")
    child.expect_exact("Error: Program name 'class' is a Python keyword")
    child.expect_exact("What is the name of your first DSPy program?")
    child.sendline("tagger")
    child.expect_exact("Enter number or name [1]: ")
    child.sendline("1")
    child.expect_exact("Signature [question:str -> answer:str]: ")
    child.sendline("?")
    child.expect_exact("  Field name (or press Enter to finish inputs): ")
    child.sendline("my field")
    child.expect_exact("Error: Field name 'my field' is not a valid Python identifier")
    child.expect_exact("  Field name (or press Enter to finish inputs): ")
    child.sendline("post")
    child.expect_exact("  Field type [str]: ")
    child.sendline("Strng")
    child.expect_exact("Error: 'Strng' is not a type dspy knows (Unknown name: Strng).")
    child.expect_exact("  Field type [str]: ")
    child.sendline("str")
    child.expect_exact("  Field name (or press Enter to finish inputs): ")
    child.sendline("")
    child.expect_exact("  Field name (or press Enter to finish outputs): ")
    child.sendline("")
    child.expect_exact("Generated signature: post -> answer")
    child.expect_exact("Model [openai/gpt-5-mini]: ")
    child.sendline("?")
    child.expect_exact("Error: '?' is not a LiteLLM model string. Write it as provider/model")
    child.expect_exact("Model [openai/gpt-5-mini]: ")
    child.sendline("ollama/llama3")
    assert finish(child) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good-name", "taken"]
    assert (tmp_path / "good-name/src/good_name/modules/tagger_predict.py").is_file()


@pytest.mark.parametrize("at", ["project", "menu", "api-key"])
def test_end_of_input_aborts_cleanly(tmp_path, at):
    args = {
        "project": ["new"],
        "menu": ["new", "x", "-p", "main"],
        "api-key": ["new", "x", "-p", "a", "-m", "Predict", "-s", "q -> a", "--model", "openai/x"],
    }[at]
    child = spawn(args, tmp_path)
    child.expect(r": $")
    child.sendeof()
    child.expect_exact("Aborted!")
    assert finish(child) == 1
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_aborts_without_writing(tmp_path):
    child = spawn(["new"], tmp_path)
    child.expect_exact("[my-project]: ")
    # The prompt is flushed just before the read starts: a signal landing in between is taken
    # by Python's handler and the read then blocks (seen on a loaded box). A person is slower.
    time.sleep(0.5)
    child.sendintr()
    child.expect_exact("Aborted!")
    assert finish(child) != 0
    assert list(tmp_path.iterdir()) == []


def test_overwrite_declined_in_a_terminal(project):
    child = spawn(["g", "scaffold", "main", "-m", "CoT"], project)
    child.expect_exact(f"Warning: Signature file already exists: {project}/src/acme_app/signatures/main.py")
    child.expect_exact("Overwrite? [y/N]: ")
    child.sendline("n")
    child.expect_exact("Error creating scaffold: ")
    child.expect_exact("Aborted!")
    assert finish(child) == 1
    assert not (project / "src/acme_app/modules/main_cot.py").exists()
