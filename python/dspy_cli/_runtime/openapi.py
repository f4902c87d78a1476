"""The OpenAPI 3.1 document, shaped like the one FastAPI generated for dspy-cli."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic.json_schema import models_json_schema

from dspy_cli._runtime.types import ProgramInfo, Route

_ERROR = {"type": "object", "properties": {"detail": {"title": "Detail"}}, "required": ["detail"], "title": "Error"}


def _json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error_responses() -> dict[str, Any]:
    error = {"$ref": "#/components/schemas/ErrorResponse"}
    return {
        "400": _json_response("The body is not valid UTF-8", error),
        "422": _json_response("Validation Error", {"$ref": "#/components/schemas/HTTPValidationError"}),
        "429": {
            **_json_response("Too many concurrent requests", error),
            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        },
        "500": _json_response("The program raised an error", error),
        "503": _json_response("Server shutting down or not ready", error),
    }


def _validation_schemas() -> dict[str, Any]:
    return {
        "HTTPValidationError": {
            "properties": {
                "detail": {
                    "items": {"$ref": "#/components/schemas/ValidationError"},
                    "type": "array",
                    "title": "Detail",
                }
            },
            "type": "object",
            "title": "HTTPValidationError",
        },
        "ValidationError": {
            "properties": {
                "loc": {
                    "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    "type": "array",
                    "title": "Location",
                },
                "msg": {"type": "string", "title": "Message"},
                "type": {"type": "string", "title": "Error Type"},
                "input": {"title": "Input"},
                "ctx": {"type": "object", "title": "Context"},
            },
            "type": "object",
            "required": ["loc", "msg", "type"],
            "title": "ValidationError",
        },
        "ErrorResponse": _ERROR,
    }


def _operation_id(path: str, method: str) -> str:
    slug = re.sub(r"\W", "_", path.lstrip("/"))
    return f"run_program_{slug}_{method.lower()}"


def _program_operation(route: Route) -> dict[str, Any]:
    title = route.name.title()
    request: dict[str, Any]
    response: dict[str, Any]
    if route.request_model is not None:
        request = {"$ref": f"#/components/schemas/{route.request_model.__name__}"}
    else:
        request = {"type": "object", "additionalProperties": True, "title": "Request"}
    if route.response_model is not None:
        response = {"$ref": f"#/components/schemas/{route.response_model.__name__}"}
    else:
        response = {"type": "object", "additionalProperties": True, "title": f"Response Run Program {title} Post"}
    return {
        "summary": "Run Program",
        "description": "Execute the DSPy program with given inputs.",
        "operationId": _operation_id(route.path, route.method),
        "requestBody": {"content": {"application/json": {"schema": request}}, "required": True},
        "responses": {"200": _json_response("Successful Response", response), **_error_responses()},
    }


def _get(
    summary: str, operation_id: str, parameters: list[dict[str, Any]] | None = None, *, errors: bool = False
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "operationId": operation_id,
        "responses": {"200": _json_response("Successful Response", {})},
    }
    if parameters:
        operation["parameters"] = parameters
    if errors:
        operation["responses"]["404"] = _json_response(
            "Program not found", {"$ref": "#/components/schemas/ErrorResponse"}
        )
        operation["responses"]["422"] = _json_response(
            "Validation Error", {"$ref": "#/components/schemas/HTTPValidationError"}
        )
    return {"get": operation}


def _program_param() -> dict[str, Any]:
    return {
        "name": "program_name",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "title": "Program Name"},
    }


def _builtin_paths() -> dict[str, Any]:
    query = [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": {"type": "string", "default": default, "title": name.title()},
        }
        for name, default in (("sort_by", "calls"), ("order", "desc"))
    ]
    limit = {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "default": 50, "title": "Limit"},
    }
    ready = _get("Readiness", "readiness_health_ready_get")
    ready["get"]["responses"]["503"] = _json_response("Not ready", {})
    return {
        "/health/live": _get("Liveness", "liveness_health_live_get"),
        "/health/ready": ready,
        "/programs": _get("List Programs", "list_programs_programs_get"),
        "/api/metrics": _get("List Metrics", "list_metrics_api_metrics_get", query),
        "/api/metrics/{program_name}": _get(
            "Program Metrics", "program_metrics_api_metrics__program_name__get", [_program_param()], errors=True
        ),
        "/api/logs/{program_name}": _get(
            "Get Logs", "get_logs_api_logs__program_name__get", [_program_param(), limit], errors=True
        ),
    }


def build_spec(
    config: dict[str, Any], modules: list[Any], routes: list[Route], programs: list[ProgramInfo], default_alias: str
) -> dict[str, Any]:
    models: list[tuple[Any, Literal["validation"]]] = []
    for route in routes:
        models += [(m, "validation") for m in (route.request_model, route.response_model) if m is not None]
    unique = list({id(m): (m, mode) for m, mode in models}.values())
    schemas: dict[str, Any] = {}
    if unique:
        _, defs = models_json_schema(unique, ref_template="#/components/schemas/{model}")
        schemas.update(defs.get("$defs", {}))
    schemas.update(_validation_schemas())
    paths: dict[str, Any] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _program_operation(route)
    for path, item in _builtin_paths().items():
        paths.setdefault(path, item)
    info: dict[str, Any] = {
        "title": config.get("app_id") or "DSPy API",
        "description": config.get("description") or "Automatically generated API for DSPy programs",
        "version": "0.1.0",
        "x-dspy-config": {"default_model": default_alias, "programs_count": len(modules)},
    }
    if modules:
        info["x-dspy-programs"] = [
            {"name": m.name, "module_path": m.module_path, "is_forward_typed": m.schema.typed} for m in modules
        ]
    info["x-dspy-program-models"] = {p.name: p.model for p in programs}
    return {"openapi": "3.1.0", "info": info, "paths": paths, "components": {"schemas": dict(sorted(schemas.items()))}}
