"""`.env` parity with python-dotenv, which upstream loads `.env` with (`load_dotenv(path)`).

One file holds every form (quotes, escapes, `export`, comments, `${VAR}` expansion, multiline
values, invalid lines); python-dotenv reads it in this process, the server reads it with our
parser, and a module reports what it sees in `os.environ`.
"""

from __future__ import annotations

import dotenv
import pytest
from serving import DEFAULT_CONFIG

# Each line is a case; keys are unique so every one can be checked on its own.
DOTENV = r"""# a comment line
PLAIN=value
SPACED = spaced value
export EXPORTED=yes
export SPACE_EXPORT = ok
INLINE=x # trailing comment
HASH_NO_SPACE=a#b
EMPTY_COMMENT= # only a comment
HASH_VALUE=#kept
DQ="double # not a comment"
DQ_ESC="line1\nline2 \"quoted\" tab\tend \\ back"
SQ='single $PLAIN \n raw'
SQ_ESC='it\'s'
'QUOTED_KEY'=quoted key
EXPAND=${PLAIN}/sub
EXPAND_DQ="${PLAIN} in quotes"
EXPAND_SQ='${PLAIN} in single quotes'
EXPAND_DEFAULT=${DOTENV_PARITY_MISSING:-fallback}
EXPAND_MISSING=${DOTENV_PARITY_MISSING}end
EXPAND_SHELL=${DOTENV_PARITY_SHELL}
DOLLAR=pa$word
MULTI="first
second # still inside"
MULTI_SQ='one
two'
EMPTY=
EMPTY_DQ=""
JUNK_AFTER_QUOTE="x" junk
NOEQ
URL=https://example.com/?a=1&b=2
DUPLICATE=first
DUPLICATE=second
SHELL_WINS=from-dotenv
AFTER=after
"""

ENV_DUMP = {
    "env_dump.py": """
        import os
        import dspy

        class EnvDump(dspy.Module):
            def forward(self, names: list[str]) -> dict:
                return {"values": {name: os.environ.get(name) for name in names}}
    """
}

SHELL = {"DOTENV_PARITY_SHELL": "from-shell", "SHELL_WINS": "from-shell"}


@pytest.fixture
def loaded(serve, tmp_path, monkeypatch):
    """(what python-dotenv's load_dotenv would leave in os.environ, what the server's modules see)."""
    for key, value in SHELL.items():
        monkeypatch.setenv(key, value)
    path = tmp_path / "reference.env"
    path.write_text(DOTENV)
    reference = dotenv.dotenv_values(path)
    assert reference, "python-dotenv parsed nothing: the test would prove nothing"
    expected = {key: SHELL.get(key, value) for key, value in reference.items()}
    names = [*expected, "JUNK_AFTER_QUOTE"]
    server = serve(ENV_DUMP, DEFAULT_CONFIG, env=SHELL, extra_files={".env": DOTENV})
    response = server.post("/EnvDump", {"names": names})
    assert response.status_code == 200, response.text
    return expected, response.json()["values"]


def test_dotenv_values_match_python_dotenv(loaded):
    expected, seen = loaded
    for key, value in expected.items():
        assert seen[key] == value, key


def test_dotenv_cases_cover_what_they_claim(loaded):
    """Pin the reference itself, so a python-dotenv upgrade that changes a rule shows up here."""
    expected, seen = loaded
    assert expected["SPACED"] == "spaced value"
    assert expected["DQ_ESC"] == 'line1\nline2 "quoted" tab\tend \\ back'
    assert expected["SQ_ESC"] == "it's"
    assert expected["EXPAND_SQ"] == "value in single quotes"
    assert expected["EXPAND_DEFAULT"] == "fallback"
    assert expected["EXPAND_SHELL"] == "from-shell"
    assert expected["DOLLAR"] == "pa$word"
    assert expected["MULTI"] == "first\nsecond # still inside"
    assert expected["DUPLICATE"] == "second"
    assert expected["SHELL_WINS"] == "from-shell"
    assert expected["NOEQ"] is None
    assert "JUNK_AFTER_QUOTE" not in expected and seen["JUNK_AFTER_QUOTE"] is None
    assert seen["AFTER"] == "after"
