"""Signature strings: our parser (src/scaffold/signature/) against dspy's own `dspy.Signature`,
run in this process on the same strings. Accepted strings must give the same field names and
types in the generated file; rejected ones dspy's message (Python's own `SyntaxError` text for
this interpreter included)."""

from __future__ import annotations

import importlib.util
import sys
import typing
from pathlib import Path

import dspy
import pytest
from scaffolding import SIGNATURE_HINT, new_args
from serving import run_cli

ACCEPTED = [
    "question -> answer",
    "post -> tags: list[str]",
    "a: int, b: float, c: bool -> d: dict[str, int]",
    "img: dspy.Image -> caption",
    "x: Optional[str] -> y: Union[int, str]",
    "x: str | None -> y: int | None",
    "x -> y: Literal['a', 'b']",
    "x: List[str] -> y: Dict[str, Any]",
    "x: list -> y: dict",
    "a,b->c",
    "a, b, -> c",
    "x: None | int -> y",
    "x: list[int | None] -> y",
    "x: tuple[int, ...] -> y",
    "x: dict[str, list[int]] -> y",
    "x: typing.List[str] -> y",
    "x: Literal[1, True, None] -> y",
    "x: set[str], z: frozenset[int] -> y: bytes",
    "x: int = 3 -> y",
    "x: Any -> y: Optional[dict[str, Any]]",
    "x: Union[int] -> y",
    "x: Tuple[int, str] -> y",
    "x: dspy.History -> y: dspy.Code",
    "x: int -> y: float,",
    "x: Text -> y",
    "x: Literal['a'] | None -> y",
    "x: Union[int, str, None] -> y",
    "x: dspy.Image | None -> y",
]

REJECTED = [
    "foo bar",
    "x: int -> y: str -> z",
    "x -> y: Foo",
    "a b -> c",
    "class -> y",
    "x: -> y",
    "x: int y -> z",
    "a -> a",
    "(x -> y",
    "x) -> y",
    "x: int[ -> y",
    "x: int = 1, y -> z",
    "x: Optional[int, str] -> y",
    "x: Dict[str] -> y",
    "x: List[int, str] -> y",
    "x: 'str' -> y",
    "x: 3 -> y",
    "x: Callable -> y",
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("parity")
    result = run_cli(*new_args("parity-app"), cwd=base)
    assert result.returncode == 0, result.stdout + result.stderr
    return base / "parity-app"


def generated_signature(project: Path, name: str, signature: str) -> type[dspy.Signature]:
    result = run_cli("g", "signature", name, "-s", signature, cwd=project)
    assert result.returncode == 0, result.stdout
    # Imported as a real module: dspy resolves the annotations in the class's module.
    path = project / "src/parity_app/signatures" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"parity_signatures_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    cls = getattr(module, f"{name.capitalize()}Signature")
    assert isinstance(cls, type) and issubclass(cls, dspy.Signature)
    return cls


def fields(signature: type[dspy.Signature]) -> tuple[list[tuple[str, object]], list[tuple[str, object]]]:
    def side(found: dict[str, typing.Any]) -> list[tuple[str, object]]:
        return [(name, field.annotation) for name, field in found.items()]

    return side(signature.input_fields), side(signature.output_fields)


@pytest.mark.parametrize("signature", ACCEPTED)
def test_accepted_like_dspy(project, signature):
    name = f"ok{ACCEPTED.index(signature)}"
    assert fields(generated_signature(project, name, signature)) == fields(dspy.Signature(signature))


@pytest.mark.parametrize("signature", REJECTED)
def test_rejected_with_dspys_message(project, signature):
    with pytest.raises(Exception) as raised:
        dspy.Signature(signature)
    name = f"bad{REJECTED.index(signature)}"
    result = run_cli("g", "signature", name, "-s", signature, cwd=project)
    assert result.returncode == 1
    assert f"Error parsing signature string: {raised.value}\n{SIGNATURE_HINT}\n" in result.stdout
