"""Request and response models derived from a module's ``forward`` type hints."""

from __future__ import annotations

import inspect
import logging
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Union

import pydantic
from pydantic import TypeAdapter

logger = logging.getLogger("dspy_cli.discovery")

UNTYPED = dict[str, Any]


@dataclass
class ForwardSchema:
    """What the server knows about one module's ``forward``."""

    typed: bool = False
    inputs: dict[str, Any] = field(default_factory=dict)  # name -> annotation
    defaults: dict[str, Any] = field(default_factory=dict)  # name -> Python default
    outputs: dict[str, Any] = field(default_factory=dict)  # name -> annotation
    dspy_inputs: dict[str, type] = field(default_factory=dict)  # name -> dspy type (Image, ...)


def is_dspy_type(annotation: Any) -> bool:
    return isinstance(annotation, type) and getattr(annotation, "__module__", "").startswith("dspy")


def _is_dict_type(annotation: Any) -> bool:
    return annotation in (dict, typing.Dict) or typing.get_origin(annotation) is dict  # noqa: UP006


def _is_optional(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (Union, types.UnionType) and type(None) in typing.get_args(annotation)


def forward_method(cls: type) -> Any:
    return getattr(cls, "forward", None) or getattr(cls, "aforward", None)


def extract_forward_schema(cls: type, output_names: list[str]) -> ForwardSchema:
    """Inputs from annotated parameters; outputs from the return annotation."""
    import dspy

    method = forward_method(cls)
    if method is None:
        return ForwardSchema()
    try:
        hints = typing.get_type_hints(method)
        params = inspect.signature(method).parameters
    except Exception:
        return ForwardSchema()
    if "return" not in hints or any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return ForwardSchema()
    returns = hints["return"]
    inputs = {name: hint for name, hint in hints.items() if name not in ("return", "self")}
    if not inputs:
        return ForwardSchema()
    schema = ForwardSchema(typed=True, inputs=inputs)
    for name in inputs:
        param = params.get(name)
        if param is not None and param.default is not inspect.Parameter.empty:
            schema.defaults[name] = param.default
        if is_dspy_type(inputs[name]):
            schema.dspy_inputs[name] = inputs[name]
    # Free-form outputs; upstream also dropped input validation for `-> dict` (a bug we fix).
    if _is_dict_type(returns) or (isinstance(returns, type) and issubclass(returns, dspy.Prediction)):
        return schema
    if isinstance(returns, type) and issubclass(returns, pydantic.BaseModel):
        schema.outputs = {n: f.annotation for n, f in returns.model_fields.items()}
    elif getattr(returns, "__annotations__", None) and not typing.get_origin(returns):
        schema.outputs = dict(typing.get_type_hints(returns))
    else:
        key = output_names[0] if len(output_names) == 1 else "result"
        schema.outputs = {key: returns}
    return schema


# What a route validates with: (request adapter, request model), (response adapter, response
# model); a model is None when its side is untyped.
Adapters = tuple[tuple[TypeAdapter[Any], type | None], tuple[TypeAdapter[Any] | None, type | None]]


def build_request_adapter(name: str, schema: ForwardSchema) -> tuple[TypeAdapter[Any], type | None]:
    """A validator for request bodies, and the request model class (None when untyped)."""
    if not schema.typed:
        return TypeAdapter(UNTYPED), None
    fields: dict[str, Any] = {}
    for param, annotation in schema.inputs.items():
        field_type = str if param in schema.dspy_inputs else annotation
        if param in schema.defaults:
            fields[param] = (field_type, schema.defaults[param])
        elif _is_optional(annotation):
            fields[param] = (field_type, None)
        else:
            fields[param] = (field_type, ...)
    try:
        model = pydantic.create_model(f"{name}Request", **fields)
        return TypeAdapter(model), model
    except Exception as exc:
        logger.warning("Could not create request model from forward types for %s: %s", name, exc)
        return TypeAdapter(UNTYPED), None


def build_response_adapter(name: str, schema: ForwardSchema) -> tuple[TypeAdapter[Any] | None, type | None]:
    """A validator for outputs (None when outputs are free-form)."""
    if not schema.typed or not schema.outputs:
        return None, None
    try:
        fields: dict[str, Any] = {key: (annotation, ...) for key, annotation in schema.outputs.items()}
        model = pydantic.create_model(f"{name}Response", **fields)
        return TypeAdapter(model), model
    except Exception as exc:
        logger.warning("Could not create response model for %s: %s", name, exc)
        return None, None
