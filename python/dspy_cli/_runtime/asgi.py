"""Gateways that register their own FastAPI routes (they override ``configure_route``).

Such a gateway gets what upstream gave it: a real FastAPI app, the route path, an async
``endpoint`` that runs the program, and the response model. The Rust server calls the app as an
ASGI application for exactly the paths registered on it; every other path stays on the Rust
fast path. fastapi is imported only here, so other projects never pay for it.

``endpoint`` does not run the module itself: it hands the request to the Rust engine through
``bridge`` (set by the engine once the loop runs), so the run gets everything an HTTP request
gets: a concurrency slot, the per-program LM, usage tracking, its log line and metrics.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from typing import Any
from urllib.parse import unquote

from pydantic_core import to_json

from dspy_cli._runtime import invoke

logger = logging.getLogger("dspy_cli.server")

# Set by the engine (a dspy_cli._native.ProgramBridge) before the first request.
bridge: Any = None
_app: Any = None
# asyncio keeps only weak references to tasks: hold ours until they finish.
_running: set[asyncio.Task[Any]] = set()


def keep_running(task: asyncio.Task[Any]) -> None:
    _running.add(task)
    task.add_done_callback(_running.discard)


_ERROR_LOGGED = "dspy_cli.error_logged"
# Responses are collected whole before they leave (no streaming): bound them like request
# bodies (MAX_BODY_BYTES in server/mod.rs), so an endless stream cannot exhaust memory.
MAX_RESPONSE_BYTES = 256 * 1024 * 1024


async def _internal_error(request: Any, exc: Exception) -> Any:
    from fastapi.responses import JSONResponse

    request.scope["state"][_ERROR_LOGGED] = True
    logger.error("Error serving %s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    return JSONResponse({"detail": "Internal Server Error"}, status_code=500)


def app() -> Any:
    """The shared FastAPI app, created on first use (without docs routes: /openapi.json is ours)."""
    global _app
    if _app is None:
        from fastapi import FastAPI

        _app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        # An unhandled error answers JSON like every other error of the server (Starlette's
        # default is a text/plain 500); Starlette re-raises it afterwards, see `_serve`.
        _app.add_exception_handler(Exception, _internal_error)
    return _app


async def run_program(route_index: int, body: bytes, origin: str) -> tuple[int, bytes]:
    """Run one request of a program through the Rust engine; (status, JSON body)."""
    if bridge is None:
        return 503, b'{"detail":"The server is still loading programs. Retry when GET /health/ready answers 200."}'
    future: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
    bridge.run(route_index, body, origin, future)
    return await future


def make_endpoint(route_index: int, program: str, request_model: Any) -> Any:
    """The ``endpoint`` handed to ``configure_route``: ``await endpoint(inputs)`` -> output."""

    async def endpoint(request: Any = None) -> Any:
        status, payload = await run_program(
            route_index, to_json(request if request is not None else {}, fallback=str), "http"
        )
        data = json.loads(payload) if payload else None
        if status >= 400:
            from fastapi import HTTPException

            detail = data.get("detail") if isinstance(data, dict) else data
            raise HTTPException(status_code=status, detail=detail)
        return data

    # FastAPI reads the signature when a gateway registers the endpoint itself: the body is
    # the program's request model (a plain JSON object for untyped modules), as upstream.
    annotation = request_model if request_model is not None else dict[str, Any]
    parameter = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=annotation)
    endpoint.__signature__ = inspect.Signature([parameter])  # type: ignore[attr-defined]
    endpoint.__name__ = f"run_{program}"
    return endpoint


def describe_route(route: Any) -> str:
    """``"POST /hooks/in"`` for a route of the app."""
    methods = ",".join(sorted(getattr(route, "methods", None) or [])) or "*"
    return f"{methods} {getattr(route, 'path', '?')}"


def registered_paths() -> list[str]:
    """Paths the gateways registered on the app, in registration order."""
    if _app is None:
        return []
    return list(dict.fromkeys(r.path for r in _app.routes if hasattr(r, "path")))


def openapi_paths() -> tuple[dict[str, Any], dict[str, Any]]:
    """The operations FastAPI generates for the registered routes, and their schemas."""
    if _app is None:
        return {}, {}
    from fastapi.openapi.utils import get_openapi

    spec = get_openapi(title="gateways", version="0", routes=_app.routes)
    return spec.get("paths", {}), spec.get("components", {}).get("schemas", {})


def _scope(
    method: str, path: str, query: bytes, headers: list[tuple[bytes, bytes]], client: Any, server: Any
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        # `path` arrives as sent (percent-encoded); ASGI wants it decoded, raw bytes in raw_path.
        "path": unquote(path),
        "raw_path": path.encode("utf-8"),
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": client,
        "server": server,
        "state": {},
    }


async def _serve(scope: dict[str, Any], body: bytes, done: Any, timeout: float | None) -> None:
    finished = asyncio.Event()
    body_sent = False
    status = 500
    headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []
    size = 0
    too_large = False

    async def receive() -> dict[str, Any]:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await finished.wait()  # the client "disconnects" once its response is complete
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, headers, size, too_large
        if finished.is_set():
            return
        if message["type"] == "http.response.start":
            status, headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                too_large = True
                raise RuntimeError(f"response larger than {MAX_RESPONSE_BYTES >> 20} MiB")
            chunks.append(chunk)
            if not message.get("more_body", False):
                # The response goes out now; background tasks keep running on this loop.
                finished.set()
                done(status, headers, b"".join(chunks))

    def fail(code: int, detail: str) -> None:
        finished.set()
        done(code, [(b"content-type", b"application/json")], json.dumps({"detail": detail}).encode())

    # The app call goes on after the response (background tasks); only the time until the
    # response is bounded by server.request_timeout_seconds.
    call = asyncio.ensure_future(_app(scope, receive, send))
    answered = asyncio.ensure_future(finished.wait())
    try:
        await asyncio.wait({call, answered}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        # The client went away before the answer (cancelled by the engine): stop the app too.
        call.cancel()
        raise
    finally:
        answered.cancel()
    timed_out = not finished.is_set() and not call.done()
    if timed_out:
        call.cancel()
        logger.error("%s %s did not answer within %s seconds; cancelled", scope["method"], scope["path"], timeout)
        fail(
            504,
            f"The gateway route {scope['path']} did not answer within {timeout} seconds (server.request_timeout_seconds).",
        )
    try:
        await call
    except asyncio.CancelledError:
        if not timed_out:
            raise
    except Exception as exc:
        if not scope["state"].get(_ERROR_LOGGED):
            when = "after its response was sent" if finished.is_set() else "before its response"
            logger.error(
                "Error serving %s %s (%s): %s: %s", scope["method"], scope["path"], when, type(exc).__name__, exc
            )
    finally:
        if too_large and not finished.is_set():
            fail(
                500,
                f"The response of {scope['method']} {scope['path']} is larger than {MAX_RESPONSE_BYTES >> 20} MiB; responses of gateway routes are sent whole, not streamed.",
            )
        elif not finished.is_set():
            fail(500, "Internal Server Error")


def start(
    method: str,
    path: str,
    query: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    client: Any,
    server: Any,
    timeout: float | None,
    done: Any,
) -> asyncio.Task[None]:
    """Entry point on the loop thread: serve one request with the gateways' FastAPI app.

    Returns the task, which the engine cancels if the client goes away before the answer."""
    scope = _scope(method, path, query, headers, client, server)
    task = invoke.create_task(asyncio.get_running_loop(), _serve(scope, body, done, timeout))
    keep_running(task)
    return task


__all__ = [
    "app",
    "describe_route",
    "keep_running",
    "make_endpoint",
    "openapi_paths",
    "registered_paths",
    "run_program",
    "start",
]
