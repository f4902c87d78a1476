"""What the web UI needs to build a program's form, published as ``info["x-dspy-ui"]`` in
/openapi.json: JSON Schema alone cannot tell a ``dspy.Image`` from a plain string, nor which
gateway route a program really answers on."""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any, Literal, Union

from .schema import is_dspy_type


def _type_name(annotation: Any) -> str:
    if is_dspy_type(annotation):
        return f"dspy.{annotation.__name__}"
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) < len(typing.get_args(annotation)):
            return (args[0] if len(args) == 1 else Union[tuple(args)]), True  # noqa: UP007
    return annotation, False


def _field(name: str, annotation: Any, has_default: bool) -> dict[str, Any]:
    inner, optional = _strip_optional(annotation)
    entry: dict[str, Any] = {
        "name": name,
        "type": _type_name(annotation),
        "optional": optional,
        "has_default": has_default,
    }
    origin = typing.get_origin(inner)
    if is_dspy_type(inner) and inner.__name__ == "Image":
        entry["kind"] = "image"
    elif origin is Literal:
        entry["kind"] = "select"
        entry["options"] = list(typing.get_args(inner))
    elif inner is bool:
        entry["kind"] = "boolean"
    elif inner is int:
        entry["kind"] = "integer"
    elif inner is float:
        entry["kind"] = "number"
    elif inner is str or is_dspy_type(inner):
        entry["kind"] = "text"
    else:  # lists, dicts, models, unions: typed as JSON
        entry["kind"] = "json"
    return entry


def describe(modules: list[Any], http_routes: list[Any]) -> dict[str, Any]:
    """{program: {doc, typed, inputs: [...], outputs: [...], routes: [{method, path}]}}."""
    info: dict[str, Any] = {}
    for module in modules:
        schema = module.schema
        info[module.name] = {
            "doc": inspect.getdoc(module.cls) or "",
            "typed": schema.typed,
            "inputs": [_field(n, a, n in schema.defaults) for n, a in schema.inputs.items()] if schema.typed else [],
            "outputs": list(schema.outputs) if schema.typed else [],
            "routes": [],
        }
    for route in http_routes:
        if route.module.name in info:
            info[route.module.name]["routes"].append({"method": route.method.upper(), "path": route.path})
    return info
