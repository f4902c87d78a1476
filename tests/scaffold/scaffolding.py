"""What the `dspy-cli new` / `dspy-cli generate` tests share: the flags that answer every prompt
and the texts `new` prints. Running the CLI and servers is tests/serving.py's job.
"""

from __future__ import annotations

# What `new` needs to run without asking anything (cli.md §2.2, "fully non-interactive form").
NON_INTERACTIVE = {
    "--program-name": "main",
    "--module-type": "Predict",
    "--signature": "question -> answer",
    "--model": "openai/gpt-4o-mini",
    "--api-key": "",
}


# Printed under every signature error (upstream printed an empty "Error parsing signature: ").
SIGNATURE_HINT = 'Write it as "inputs -> outputs", e.g. "question -> answer" or "text, context: list[str] -> summary, tags: list[str]".'


def no_answer(flag: str) -> str:
    """What a prompt prints when stdin is closed: which flag answers it (upstream: only "Aborted!")."""
    return (
        f"\nError: no answer to this question (standard input is closed). Pass {flag} to answer it without a prompt.\n"
    )


def new_args(name: str, **overrides: str) -> list[str]:
    """`new <name>` with the non-interactive flags, `overrides` replacing some (keys are flags)."""
    flags = {**NON_INTERACTIVE, **overrides}
    return ["new", name, *[item for pair in flags.items() for item in pair]]
