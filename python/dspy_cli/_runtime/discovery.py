"""Find the ``dspy.Module`` classes of a project, in a deterministic order."""

from __future__ import annotations

import importlib.util
import inspect
import logging
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dspy_cli._runtime.schema import ForwardSchema, extract_forward_schema

logger = logging.getLogger("dspy_cli.discovery")


class DiscoveryError(Exception):
    """A project problem that stops the server from starting."""


@dataclass
class DiscoveredModule:
    name: str
    cls: type
    module_path: str
    instance: Any
    schema: ForwardSchema
    is_async: bool


def _defining_class(cls: type, name: str) -> type | None:
    return next((klass for klass in cls.__mro__ if name in vars(klass)), None)


def has_native_async(cls: type) -> bool:
    """True when the class's ``aforward`` is at least as specific as its ``forward``.

    A user class that defines or inherits its own ``aforward`` is async. A subclass of a DSPy
    built-in (``class Summ(dspy.ChainOfThought)``) that overrides only ``forward`` is not:
    running the inherited ``aforward`` would silently skip the user's ``forward``.
    """
    import dspy

    async_owner = _defining_class(cls, "aforward")
    if async_owner is None or async_owner is dspy.Module or not callable(vars(async_owner)["aforward"]):
        return False
    sync_owner = _defining_class(cls, "forward")
    return sync_owner is None or issubclass(async_owner, sync_owner)


def _find_signature(instance: Any) -> Any:
    for value in vars(instance).values():
        signature = getattr(value, "signature", None)
        if signature is not None and hasattr(signature, "input_fields"):
            return signature
        predict = getattr(value, "predict", None)
        if predict is not None and hasattr(getattr(predict, "signature", None), "input_fields"):
            return predict.signature
    return None


@dataclass
class LoadFailure:
    """A module file that could not be imported, or a class that could not be instantiated."""

    file: str
    line: int | None
    error: str
    program: str | None = None

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file


def _error_line(exc: BaseException, path: Path) -> int | None:
    """The line of the user's file the error points at: a SyntaxError's own line, else the
    innermost traceback frame inside that file."""
    if isinstance(exc, SyntaxError) and exc.filename and Path(exc.filename) == path:
        return exc.lineno
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
    return frames[-1].lineno if frames else None


def _failure(exc: BaseException, path: Path, root: Path, program: str | None = None) -> LoadFailure:
    try:
        shown = str(path.relative_to(root))
    except ValueError:
        shown = str(path)
    message = exc.msg if isinstance(exc, SyntaxError) and exc.msg else str(exc)
    return LoadFailure(shown, _error_line(exc, path), f"{type(exc).__name__}: {message}", program)


def _import_file(path: Path, module_name: str, root: Path, failures: list[LoadFailure]) -> Any | None:
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except ModuleNotFoundError as exc:
        sys.modules.pop(module_name, None)
        failure = _failure(exc, path, root)
        failures.append(failure)
        logger.error("Error loading module %s: %s", failure.where(), failure.error)
        logger.warning(
            "⚠  Missing dependency detected while importing %s: the package '%s' is not installed "
            "in the Python environment running dspy-cli (%s). Install it there (e.g. `pip install %s` "
            "or `uv add %s` with the project venv activated), then restart the server.",
            path.name,
            exc.name,
            sys.executable,
            exc.name,
            exc.name,
        )
        return None
    except BaseException as exc:  # a broken user file must not stop the server
        if isinstance(exc, KeyboardInterrupt):
            raise
        sys.modules.pop(module_name, None)
        failure = _failure(exc, path, root)
        failures.append(failure)
        logger.error("Error loading module %s: %s", failure.where(), failure.error)
        return None
    return module


def _describe(name: str, cls: type, path: Path, root: Path, failures: list[LoadFailure]) -> DiscoveredModule:
    """``module_path`` is the dotted module name, as upstream (never a filesystem path)."""
    try:
        instance = cls()
    except Exception as exc:
        # Served anyway, as upstream does: each request retries the constructor and answers 500
        # with its error until it succeeds.
        failure = _failure(exc, path, root, program=name)
        failures.append(failure)
        logger.error("Could not instantiate %s (%s): %s", name, failure.where(), failure.error)
        instance = None
    signature = _find_signature(instance) if instance is not None else None
    outputs = list(signature.output_fields) if signature is not None else []
    schema = extract_forward_schema(cls, outputs)
    module = DiscoveredModule(
        name=name,
        cls=cls,
        module_path=cls.__module__,
        instance=instance,
        schema=schema,
        is_async=has_native_async(cls),
    )
    if not schema.typed:
        logger.warning("Module %s does not have typed forward() method - API will have no validation", name)
    if module.is_async:
        logger.info("Module %s has native async support (aforward)", name)
    logger.info("Discovered module: %s in %s", name, path.name)
    return module


def discover(
    modules_dir: Path, package_name: str, src_dir: Path, failures: list[LoadFailure]
) -> list[DiscoveredModule]:
    """Import every ``modules/*.py`` (sorted) and describe each ``dspy.Module`` defined there.

    What could not be loaded is appended to ``failures`` (and logged), never skipped silently.
    """
    import dspy

    root = src_dir.parent
    for entry in (str(src_dir / package_name), str(src_dir)):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    found: list[DiscoveredModule] = []
    for path in sorted(modules_dir.glob("*.py")):
        if path.name.startswith("_"):
            continue
        module_name = f"{package_name}.modules.{path.stem}"
        module = _import_file(path, module_name, root, failures)
        if module is None:
            continue
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, dspy.Module)
                and cls is not dspy.Module
                and cls.__module__ == module_name
                and not name.startswith("_")
            ):
                found.append(_describe(name, cls, path, root, failures))
    names = [m.name for m in found]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DiscoveryError(f"Error: Duplicate module names found: {', '.join(duplicates)}")
    return found
