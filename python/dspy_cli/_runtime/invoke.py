"""Per-request work on the Python side: validate, call the module, shape the response.

Called by the Rust engine, on a sync-pool thread (``run_sync``) or on the asyncio loop thread
(``start_async``). Every entry point returns an :class:`~dspy_cli._runtime.types.Outcome`,
never raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar, cast

import dspy
from dspy.utils.usage_tracker import UsageTracker
from pydantic import ValidationError
from pydantic_core import ErrorDetails, to_json

from dspy_cli._runtime import logfmt
from dspy_cli._runtime.types import BodyKind, LogParts, Outcome, Route

logger = logging.getLogger("dspy_cli.server")

_PRIMITIVES = (str, int, float, bool, type(None))

# The context every request copies: captured once after dspy.configure at start-up.
root_context: contextvars.Context = contextvars.copy_context()


class Rejected(Exception):
    """A request refused before the module ran; carries its finished outcome."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__()
        self.outcome = outcome


def _json(value: Any) -> bytes:
    return to_json(value, fallback=str)


def _log_json(value: Any) -> bytes:
    """JSON for a log line: NaN and Infinity become strings, so the line stays valid JSON."""
    return to_json(value, fallback=str, inf_nan_mode="strings")


def _detail(status: int, detail: Any) -> Outcome:
    return Outcome(status, _json({"detail": detail}))


def _validation_errors(exc: ValidationError) -> list[ErrorDetails]:
    errors = exc.errors(include_url=False)
    for error in errors:
        error["loc"] = ("body", *error["loc"])
    return errors


def parse_request(route: Route, body: bytes, kind: BodyKind) -> Any:
    """Validate a body exactly as FastAPI would, with a fast path for valid JSON."""
    adapter = route.request_adapter
    if kind == BodyKind.EMPTY:
        raise Rejected(_detail(422, [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}]))
    if kind == BodyKind.JSON:
        try:
            return adapter.validate_json(body)
        except ValidationError:
            pass  # recompute below so error bodies match FastAPI's exactly
        try:
            data: Any = json.loads(body)
        except (UnicodeDecodeError, RecursionError):
            # FastAPI answers 400 to any body json.loads cannot read other than a syntax error
            # (here: nesting deeper than Python's recursion limit).
            raise Rejected(_detail(400, "There was an error parsing the body")) from None
        except json.JSONDecodeError as exc:
            error = {"type": "json_invalid", "loc": ["body", exc.pos], "msg": "JSON decode error", "input": {}}
            error["ctx"] = {"error": exc.msg}
            raise Rejected(_detail(422, [error])) from None
    else:
        data = body
    try:
        return adapter.validate_python(data, from_attributes=True)
    except ValidationError as exc:
        raise Rejected(_detail(422, _validation_errors(exc))) from None


def _convert_dspy_inputs(route: Route, inputs: dict[str, Any]) -> dict[str, Any]:
    for name, dspy_type in route.dspy_inputs.items():
        value = inputs.get(name)
        if isinstance(value, (str, dict)):
            try:
                inputs[name] = dspy_type(value)
            except Exception as exc:
                logger.warning("Failed to convert %s to %s: %s", name, dspy_type.__name__, exc)
    return inputs


def normalize_output(result: Any, route: Route) -> dict[str, Any]:
    """Prediction -> its fields; object -> vars; dict as is; scalar -> {single_output: value}."""
    if isinstance(result, dspy.Prediction):
        # DSPy is untyped: toDict() is a dict of the prediction's fields.
        return cast("dict[str, Any]", result.toDict())
    if isinstance(result, dict):
        return result
    if hasattr(result, "__dict__") and not isinstance(result, type):
        return dict(vars(result))
    return {route.scalar_key: result}


def _http_status(exc: BaseException) -> int | None:
    """The status of an HTTPException-style error (FastAPI's, Starlette's or look-alikes)."""
    status = getattr(exc, "status_code", None)
    has_detail = hasattr(exc, "detail")
    return status if has_detail and isinstance(status, int) and 400 <= status <= 599 else None


def _gateway_error(exc: BaseException) -> Outcome:
    """A gateway hook failed: its HTTPException keeps its status (upstream made every one a 500)."""
    status = _http_status(exc)
    return _detail(status, exc.detail) if status is not None else _detail(500, str(exc))  # type: ignore[attr-defined]


def _usage(tracker: Any) -> bytes | None:
    data = tracker.usage_data if tracker is not None else None
    return _json(dict(data)) if data else None


def _loggable_inputs(route: Route, inputs: dict[str, Any]) -> bytes:
    if route.dspy_inputs:
        inputs = logfmt.loggable(inputs, route.name, route.logs_dir)
    return _log_json(inputs)


def _loggable_outputs(route: Route, output: dict[str, Any]) -> bytes:
    if any(not isinstance(v, _PRIMITIVES) for v in output.values()):
        output = logfmt.loggable(output, route.name, route.logs_dir)
    return _log_json(output)


def _failure(route: Route, inputs: Any, exc: BaseException, tracker: Any) -> Outcome:
    """A 500 for an error of the module (or of shaping its output), with its log line.

    Module errors are always 500, whatever attributes they carry: an LM client's 401 or 429 is
    the server's problem, not the caller's.
    """
    # The traceback stays in the server log; the client gets only the message.
    logger.error("Error executing %s: %s: %s", route.name, type(exc).__name__, exc, exc_info=exc)
    try:
        log_inputs = _loggable_inputs(route, inputs)
    except Exception:
        log_inputs = _log_json({"_raw": str(inputs)})
    return Outcome(500, _json({"detail": str(exc)}), LogParts(log_inputs, b"{}", str(exc), _usage(tracker)))


def _response_body(route: Route, response: Any) -> tuple[int, bytes]:
    """Status and JSON for what the gateway returned, validated against the response model."""
    status, raw_body = getattr(response, "status_code", None), getattr(response, "body", None)
    if isinstance(status, int) and isinstance(raw_body, bytes):
        return status, raw_body  # a Starlette-style Response from a gateway passes through
    adapter = route.response_adapter
    if adapter is None:
        return 200, _json(response)
    return 200, adapter.dump_json(adapter.validate_python(response, from_attributes=True))


def _finish(route: Route, inputs: dict[str, Any], result: Any, tracker: Any) -> Outcome:
    output = normalize_output(result, route)
    log_inputs = _loggable_inputs(route, inputs)
    log_outputs = _loggable_outputs(route, output)
    usage = _usage(tracker)
    try:
        response = route.gateway.from_pipeline_output(output)
    except Exception as exc:
        rejected = _gateway_error(exc)
        return rejected._replace(log=LogParts(log_inputs, b"{}", str(exc), usage))
    try:
        status, body = _response_body(route, response)
    except ValidationError as exc:
        error = f"Output of {route.name} does not match its declared return type: {exc}"
        logger.error("%s", error)
        return Outcome(500, _json({"detail": error}), LogParts(log_inputs, log_outputs, error, usage))
    return Outcome(status, body, LogParts(log_inputs, log_outputs, None, usage))


def _request_settings(route: Route) -> tuple[contextlib.AbstractContextManager[Any], UsageTracker]:
    """The request's own LM copy and usage tracker, entered as one ``dspy.context``.

    Same effect as ``dspy.context(lm=lm.copy(), track_usage=True)`` then ``track_usage()``,
    for a third of the cost (one settings context instead of two, no generator).
    """
    tracker = UsageTracker()
    parent = dspy.settings.usage_tracker
    if parent is not None:
        # A tracker configured above the request gets its usage rolled up, as track_usage does.
        return _rolled_up(route, tracker, parent), tracker
    return dspy.context(lm=route.request_lm(), track_usage=True, usage_tracker=tracker), tracker


@contextlib.contextmanager
def _rolled_up(route: Route, tracker: UsageTracker, parent: UsageTracker) -> Iterator[None]:
    with dspy.context(lm=route.request_lm(), track_usage=True, usage_tracker=tracker):
        try:
            yield
        finally:
            for lm, entries in tracker.usage_data.items():
                parent.usage_data[lm].extend(entries)


def _prepare(route: Route, request: Any) -> tuple[dict[str, Any], Any] | Outcome:
    """Inputs for the module (gateway transform, dspy types) and the instance to call, or the
    error outcome when the gateway or the constructor fails."""
    try:
        inputs = route.gateway.to_pipeline_inputs(request)
        if route.dspy_inputs:
            inputs = _convert_dspy_inputs(route, inputs)
        instance = route.instance
        return inputs, route.cls() if instance is None else instance
    except Exception as exc:
        return _gateway_error(exc)


def _execute_sync(route: Route, request: Any) -> Outcome:
    prepared = _prepare(route, request)
    if isinstance(prepared, Outcome):
        return prepared
    inputs, instance = prepared
    tracker = None
    try:
        request_settings, tracker = _request_settings(route)
        with request_settings:
            result = instance(**inputs)
        return _finish(route, inputs, result, tracker)
    except BaseException as exc:  # even SystemExit must become a logged 500
        return _failure(route, inputs, exc, tracker)


def _crash(route: Route, exc: BaseException) -> Outcome:
    """Last resort of the never-raise contract: an error in the runtime itself."""
    logger.error("Internal error serving %s: %s: %s", route.name, type(exc).__name__, exc, exc_info=exc)
    return _detail(500, f"Internal error in dspy-cli while serving {route.name}: {type(exc).__name__}: {exc}")


def run_sync(route: Route, body: bytes, kind: int) -> Outcome:
    """Entry point for a sync-pool thread: the whole request, in a fresh copy of the root context."""
    try:
        request = parse_request(route, body, BodyKind(kind))
        return root_context.copy().run(_execute_sync, route, request)
    except Rejected as rejected:
        return rejected.outcome
    except BaseException as exc:  # the engine expects an outcome, never an exception
        return _crash(route, exc)


CANCELLED = Outcome(499, b'{"detail":"Client disconnected"}')


async def _execute_async(route: Route, request: Any) -> Outcome:
    prepared = _prepare(route, request)
    if isinstance(prepared, Outcome):
        return prepared
    inputs, instance = prepared
    tracker = None
    try:
        request_settings, tracker = _request_settings(route)
        with request_settings:
            result = await instance.acall(**inputs)
        if route.dspy_inputs:
            # Saving image inputs to logs/img is file I/O: keep it off the event loop.
            return await asyncio.to_thread(_finish, route, inputs, result, tracker)
        return _finish(route, inputs, result, tracker)
    except asyncio.CancelledError:
        error = "Request cancelled before the program finished (client disconnected or timed out)"
        return CANCELLED._replace(log=LogParts(_loggable_inputs(route, inputs), b"{}", error, _usage(tracker)))
    except BaseException as exc:  # SystemExit must not stop the event loop
        return _failure(route, inputs, exc, tracker)


def _task_outcome(route: Route, task: asyncio.Task[Outcome]) -> Outcome:
    if task.cancelled():
        return CANCELLED
    try:
        return task.result()
    except BaseException as exc:  # the engine expects an outcome, never an exception
        return _crash(route, exc)


T = TypeVar("T")

if sys.version_info >= (3, 11):

    def create_task(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        return loop.create_task(coro, context=root_context.copy())

else:

    def create_task(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        # No context= before 3.11: a task copies the context it is created in.
        return root_context.copy().run(loop.create_task, coro)


def start_async(route: Route, body: bytes, kind: int, done: Callable[[Outcome], None]) -> asyncio.Task[Outcome] | None:
    """Entry point on the loop thread: validate, then run ``acall`` as a task in its own context.

    ``done`` receives the outcome. Returns the task (so the engine can cancel it) or None.
    """
    try:
        request = parse_request(route, body, BodyKind(kind))
    except Rejected as rejected:
        done(rejected.outcome)
        return None
    task = create_task(route.loop, _execute_async(route, request))
    task.add_done_callback(lambda t: done(_task_outcome(route, t)))
    return task
