"""Gateways: the public API, which gateways a module gets, custom FastAPI routes, setup errors.

Covers reference server.md §14's gateway and gateway-finder checklists (library semantics in
process, routing against a real server) and the webhook shape from issue #10.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from dspy_cli.gateway import APIGateway, CronGateway, Gateway, IdentityGateway
from pydantic import BaseModel
from serving import DEFAULT_CONFIG, free_port, make_project, run_cli, wait_until

# --- library semantics (tests/gateway/test_gateway.py upstream) ---------------------------------


class Body(BaseModel):
    text: str


def test_identity_gateway_transforms():
    gateway = IdentityGateway()
    assert gateway.to_pipeline_inputs({"a": 1}) == {"a": 1}
    assert gateway.to_pipeline_inputs(Body(text="x")) == {"text": "x"}
    assert gateway.to_pipeline_inputs({}) == {} and gateway.to_pipeline_inputs(None) == {}
    output = {"answer": 1}
    assert gateway.from_pipeline_output(output) is output


def test_api_gateway_defaults_and_overrides():
    assert (APIGateway.request_model, APIGateway.response_model, APIGateway.path) == (None, None, None)
    assert APIGateway.method == "POST" and APIGateway.requires_auth is True

    class Put(APIGateway):
        path, method, request_model = "/put", "PUT", Body

        def to_pipeline_inputs(self, request):
            return {"text": request.text.upper()}

    assert Put().to_pipeline_inputs(Body(text="a")) == {"text": "A"}
    assert (Put.path, Put.method, Put.request_model) == ("/put", "PUT", Body)


def test_cron_gateway_semantics():
    with pytest.raises(TypeError, match="abstract"):
        CronGateway()  # type: ignore[abstract]

    seen = []

    class Job(CronGateway):
        schedule = "*/5 * * * *"

        async def get_pipeline_inputs(self):
            return []

        async def on_complete(self, inputs, output):
            seen.append(inputs)

    job = Job()
    assert job.schedule == "*/5 * * * *" and job.use_batch is False and job.num_threads is None
    assert Job.extract_pipeline_kwargs({"text": "a", "_meta": {"id": 1}, "_x": 2}) == {"text": "a"}
    import asyncio

    assert asyncio.run(job.on_error({}, ValueError("x"))) is None  # the default is a no-op


def test_hooks_and_hierarchy():
    class Hooked(APIGateway):
        def setup(self):
            raise RuntimeError("no token")

    assert Gateway.setup(IdentityGateway()) is None and Gateway.shutdown(IdentityGateway()) is None
    with pytest.raises(RuntimeError):
        Hooked().setup()
    assert issubclass(IdentityGateway, APIGateway) and issubclass(APIGateway, Gateway)
    assert issubclass(CronGateway, Gateway) and not issubclass(CronGateway, APIGateway)


# --- which gateways a module gets (gateway finder) ----------------------------------------------

FINDER = {
    "finder.py": """
        import dspy
        from dspy_cli.gateway import APIGateway, CronGateway, IdentityGateway

        class Custom(APIGateway):
            path = "/custom/path"

        class Broken(APIGateway):
            def __init__(self):
                raise RuntimeError("needs a token")

        class NoAttr(dspy.Module):
            def forward(self, text: str) -> dict:
                return {"echo": text}

        class StringAttr(dspy.Module):
            gateway = "not a gateway"
            def forward(self, text: str) -> dict:
                return {"echo": text}

        class WithCustom(dspy.Module):
            gateway = Custom
            def forward(self, text: str) -> dict:
                return {"echo": text}

        class Mixed(dspy.Module):
            gateway = [Broken, int, IdentityGateway]
            def forward(self, text: str) -> dict:
                return {"echo": text}

        class OnlyBroken(dspy.Module):
            gateway = Broken
            def forward(self, text: str) -> dict:
                return {"echo": text}

        class InstanceAttr(dspy.Module):
            gateway = Custom()
            def forward(self, text: str) -> dict:
                return {"echo": text}

        class Weekly(CronGateway):
            schedule = "0 3 * * 7"
            async def get_pipeline_inputs(self):
                return []
            async def on_complete(self, inputs, output):
                pass

        class Both(dspy.Module):
            gateway = [Weekly, IdentityGateway]
            def forward(self, text: str) -> dict:
                return {"echo": text}

        class Probe(dspy.Module):
            def forward(self) -> dict:
                import sys
                return {"fastapi_loaded": "fastapi" in sys.modules}
    """
}


def test_gateway_finder_rules_and_start_up_notes(serve):
    server = serve(FINDER)
    body = {"text": "hi"}
    assert server.post("/NoAttr", body).json() == {"echo": "hi"}
    assert server.post("/StringAttr", body).json() == {"echo": "hi"}
    assert server.post("/custom/path", body).json() == {"echo": "hi"}
    assert server.post("/WithCustom", body).status_code == 404
    assert server.post("/Mixed", body).json() == {"echo": "hi"}
    # Every gateway of OnlyBroken failed: it falls back to IdentityGateway, as upstream.
    assert server.post("/OnlyBroken", body).json() == {"echo": "hi"}
    # No gateway here overrides configure_route: fastapi is never imported.
    assert server.post("/Probe", {}).json() == {"fastapi_loaded": False}
    # An instance instead of a class is not a gateway: IdentityGateway, and a note says so.
    assert server.post("/InstanceAttr", body).json() == {"echo": "hi"}
    # [Cron, Identity]: both kept, in order: an HTTP route and a scheduled job.
    assert server.post("/Both", body).json() == {"echo": "hi"}
    assert "Registered cron gateway: Both schedule=0 3 * * 7" in server.stderr()
    out = server.stdout()
    assert "CRON Weekly schedule=0 3 * * 7" in out
    assert "is not a Gateway subclass (ignored)" in out.split("• InstanceAttr")[1].split("•")[0]
    assert "not served: gateway entry 'not a gateway' is not a Gateway subclass" in out
    assert "not served: gateway entry <class 'int'> is not a Gateway subclass" in out
    assert out.count("not served: gateway Broken could not be created: RuntimeError: needs a token") == 2
    assert "POST /custom/path" in out


# --- a webhook gateway with its own FastAPI route ------------------------------------------------

SECRET = "s3cr3t"  # noqa: S105 - the test webhook's shared secret

WEBHOOK = {
    "webhook.py": """
        import asyncio, hashlib, hmac, json, os
        from pathlib import Path

        import dspy
        from fastapi import BackgroundTasks, HTTPException, Request, Response
        from dspy_cli.gateway import APIGateway

        import outbound

        SECRET = os.environ["WEBHOOK_SECRET"].encode()

        class IssueWebhook(APIGateway):
            path = "/hooks/issues"

            def configure_route(self, app, route_path, endpoint, response_model):
                @app.post(route_path)
                async def receive(request: Request, background_tasks: BackgroundTasks):
                    body = await request.body()
                    expected = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
                    if not hmac.compare_digest(request.headers.get("x-signature", ""), expected):
                        raise HTTPException(status_code=401, detail="Invalid signature")
                    try:
                        event = json.loads(body)
                    except json.JSONDecodeError:
                        raise HTTPException(status_code=400, detail="Invalid JSON")
                    if event.get("action") != "opened":
                        return {"status": "skipped"}
                    background_tasks.add_task(self.process, endpoint, event)
                    return Response(status_code=202)

            async def process(self, endpoint, event):
                # Wait for the test's go-ahead: proves the 202 left before this task ran.
                go = Path(os.environ["GO_FILE"])
                for _ in range(1200):
                    if go.exists():
                        break
                    await asyncio.sleep(0.05)
                output = await endpoint({"text": event["title"]})
                outbound.post_comment(event["number"], output["summary"])

        class Summarize(dspy.Module):
            gateway = IssueWebhook

            def __init__(self):
                self.predict = dspy.Predict("text -> summary")

            def forward(self, text: str) -> dspy.Prediction:
                return self.predict(text=text)

        class Plain(dspy.Module):
            def forward(self, text: str) -> dict:
                return {"echo": text}
    """
}

OUTBOUND = """
import json, os

def post_comment(number, text):
    with open(os.environ["OUTBOUND_FILE"], "a") as handle:
        handle.write(json.dumps({"number": number, "text": text}) + "\\n")
"""


def _signed(payload: bytes) -> dict[str, str]:
    return {"x-signature": hmac.new(SECRET.encode(), payload, hashlib.sha256).hexdigest()}


def test_webhook_gateway_with_its_own_fastapi_route(serve, tmp_path):
    outbound, go = tmp_path / "outbound.jsonl", tmp_path / "go"
    env = {"WEBHOOK_SECRET": SECRET, "OUTBOUND_FILE": str(outbound), "GO_FILE": str(go)}
    server = serve(WEBHOOK, env=env, extra_files={"src/outbound.py": OUTBOUND})
    url = "/hooks/issues"

    unsigned = server.client.post(url, content=b'{"action": "opened"}')
    assert (unsigned.status_code, unsigned.json()) == (401, {"detail": "Invalid signature"})
    bad = server.client.post(url, content=b'{"action": "opened"}', headers={"x-signature": "00"})
    assert (bad.status_code, bad.json()) == (401, {"detail": "Invalid signature"})
    irrelevant = b'{"action": "closed"}'
    skipped = server.client.post(url, content=irrelevant, headers=_signed(irrelevant))
    assert (skipped.status_code, skipped.json()) == (200, {"status": "skipped"})
    invalid = b"not json"
    assert server.client.post(url, content=invalid, headers=_signed(invalid)).status_code == 400

    event = json.dumps({"action": "opened", "title": "Crash on start", "number": 7}).encode()
    accepted = server.client.post(url, content=event, headers=_signed(event))
    assert accepted.status_code == 202
    # The background task is still waiting for the go-ahead: nothing ran yet.
    assert server.log_lines("Summarize") == [] and not outbound.exists()
    go.write_text("go")
    assert wait_until(lambda: outbound.exists() and server.log_lines("Summarize"), 30)
    assert json.loads(outbound.read_text()) == {"number": 7, "text": "model=gpt-4o-mini"}
    entry = json.loads(server.log_lines("Summarize")[0])
    assert entry["inputs"] == {"text": "Crash on start"} and entry["success"] is True
    assert entry["tokens"]["total_tokens"] > 0 and "source" not in entry
    metrics = server.client.get("/api/metrics/Summarize").json()["metrics"]
    assert metrics["call_count"] == 1

    # Only the registered path goes to the app; everything else stays on the Rust routes.
    assert server.post("/Plain", {"text": "x"}).json() == {"echo": "x"}
    assert server.post("/Summarize", {"text": "x"}).status_code == 404
    assert server.client.get(url).json() == {"detail": "Method Not Allowed"}
    paths = server.client.get("/openapi.json").json()["paths"]
    assert "post" in paths["/hooks/issues"] and "/Plain" in paths
    assert "POST /hooks/issues  (forward, FastAPI route of its gateway)" in server.stdout()


ENDPOINT_ROUTE = {
    "typed.py": """
        import dspy
        from dspy_cli.gateway import APIGateway

        class Accepting(APIGateway):
            path = "/accept"

            def configure_route(self, app, route_path, endpoint, response_model):
                # The endpoint itself, registered with FastAPI options the default lacks.
                app.add_api_route(route_path, endpoint, methods=["POST"], status_code=201)

        class Shout(dspy.Module):
            gateway = Accepting

            def forward(self, text: str) -> dict:
                if text == "boom":
                    raise ValueError("boom")
                return {"loud": text.upper()}

        class Shadowed(APIGateway):
            def configure_route(self, app, route_path, endpoint, response_model):
                app.add_api_route("/programs", endpoint, methods=["GET"])
                app.add_api_route(route_path, endpoint, methods=["POST"])

        class Other(dspy.Module):
            gateway = Shadowed

            def forward(self) -> dict:
                return {"other": True}
    """
}


def test_endpoint_registered_directly_validates_and_keeps_errors(serve):
    server = serve(ENDPOINT_ROUTE)
    response = server.post("/accept", {"text": "hi"})
    assert (response.status_code, response.json()) == (201, {"loud": "HI"})
    assert server.post("/accept", {"nope": 1}).status_code == 422
    failed = server.post("/accept", {"text": "boom"})
    assert (failed.status_code, failed.json()) == (500, {"detail": "boom"})
    assert len(server.log_lines("Shout")) == 2
    schema = server.client.get("/openapi.json").json()["paths"]["/accept"]["post"]
    assert "requestBody" in schema
    # A gateway route that a built-in route shadows is named at start-up, not silently lost.
    assert "not served: GET /programs of gateway Other.Shadowed (shadowed by the built-in route)" in server.stdout()
    assert "programs" in server.client.get("/programs").json()
    assert server.post("/Other/Shadowed", {}).json() == {"other": True}


# --- setup() errors abort start-up ---------------------------------------------------------------

SETUP_FAILS = {
    "bot.py": """
        import os
        import dspy
        from dspy_cli.gateway import APIGateway

        class DiscordBot(APIGateway):
            def setup(self):
                raise RuntimeError("DISCORD_BOT_TOKEN is not set")

        class Moderator(dspy.Module):
            gateway = DiscordBot

            def forward(self, text: str) -> dict:
                return {"ok": True}
    """
}


def test_gateway_setup_error_aborts_start_up(tmp_path, mock_lm):
    root = make_project(tmp_path / "p", SETUP_FAILS, DEFAULT_CONFIG.format(api_base=mock_lm.api_base))
    result = run_cli("serve", "--system", "--port", str(free_port()), "--no-save-openapi", cwd=root)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Error creating application: DISCORD_BOT_TOKEN is not set" in result.stdout
    assert "Gateway setup failed for Moderator.DiscordBot: RuntimeError" in result.stderr
    assert "Traceback" not in result.stderr


def test_route_path_conflict_aborts_start_up(tmp_path, mock_lm):
    modules = {
        "clash.py": """
            import dspy
            from dspy_cli.gateway import APIGateway

            class Same(APIGateway):
                path = "/same"

            class A(dspy.Module):
                gateway = Same
                def forward(self, text: str) -> dict:
                    return {}

            class B(dspy.Module):
                gateway = Same
                def forward(self, text: str) -> dict:
                    return {}
        """
    }
    root = make_project(tmp_path / "p", modules, DEFAULT_CONFIG.format(api_base=mock_lm.api_base))
    result = run_cli("serve", "--system", "--port", str(free_port()), "--no-save-openapi", cwd=root)
    assert result.returncode == 1
    assert "Route path conflict: '/same' is used by both A.Same and B.Same" in result.stdout


HOLDING = {
    "hold.py": """
        import asyncio, os
        from pathlib import Path
        import dspy
        from dspy_cli.gateway import APIGateway

        class Holding(APIGateway):
            path = "/hold"

            def configure_route(self, app, route_path, endpoint, response_model):
                @app.post(route_path)
                async def hold():
                    Path(os.environ["HELD_FILE"]).write_text("held")
                    await asyncio.sleep(5)
                    return {"held": True}

        class Held(dspy.Module):
            gateway = Holding

            def forward(self, text: str) -> dict:
                return {}
    """
}


def test_gateway_app_requests_are_bounded(serve, tmp_path):
    held = tmp_path / "held"
    config = DEFAULT_CONFIG + "server:\n  max_concurrent_per_program: 1\n  queue_timeout_seconds: 0.5\n"
    server = serve(HOLDING, config, env={"HELD_FILE": str(held)})
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(server.post, "/hold")
        assert wait_until(held.exists, 30)
        rejected = server.post("/hold")
        assert rejected.status_code == 429 and "Retry-After" in rejected.headers
        assert first.result().json() == {"held": True}


# --- ASGI semantics of the gateway app -----------------------------------------------------------

ASGI_ROUTES = {
    "asgi_routes.py": """
        import asyncio, os
        from pathlib import Path

        import dspy
        from fastapi import Request
        from fastapi.responses import StreamingResponse
        from dspy_cli.gateway import APIGateway

        def mark(name):
            Path(os.environ["MARKS"], name).write_text(name)

        class Routes(APIGateway):
            path = "/asgi"

            def configure_route(self, app, route_path, endpoint, response_model):
                @app.get("/asgi/items/{name}")
                async def item(name: str, request: Request):
                    return {"name": name, "path": request.scope["path"], "raw_path": request.scope["raw_path"].decode()}

                @app.get("/asgi/boom")
                async def boom():
                    raise RuntimeError("kaboom")

                @app.get("/asgi/endless")
                async def endless():
                    async def chunks():
                        block = b"x" * (1 << 20)
                        while True:
                            yield block
                    return StreamingResponse(chunks())

                @app.get("/asgi/wait")
                async def wait():
                    mark("started")
                    try:
                        await asyncio.sleep(3600)
                    except asyncio.CancelledError:
                        mark("cancelled")
                        raise

        class Asgi(dspy.Module):
            gateway = Routes

            def forward(self, text: str) -> dict:
                return {}
    """
}


def test_gateway_app_scope_errors_and_disconnects(serve, tmp_path):
    import socket

    marks = tmp_path / "marks"
    marks.mkdir()
    server = serve(ASGI_ROUTES, env={"MARKS": str(marks)})

    # ASGI: `path` is percent-decoded (path parameters see the real text), `raw_path` is as sent.
    item = server.client.get("/asgi/items/a%20b%C3%A9")
    assert item.json() == {"name": "a bé", "path": "/asgi/items/a bé", "raw_path": "/asgi/items/a%20b%C3%A9"}

    # An unhandled error is a JSON 500 like every other server error, logged once with its cause.
    boom = server.client.get("/asgi/boom")
    assert (boom.status_code, boom.json()) == (500, {"detail": "Internal Server Error"})
    assert wait_until(lambda: "RuntimeError: kaboom" in server.stderr(), 10)
    stderr = server.stderr()
    assert stderr.count("RuntimeError: kaboom") == 1 and "GET /asgi/boom" in stderr
    assert "background task" not in stderr and "Traceback" not in stderr

    # Responses are collected whole: an endless stream is cut at the bound, not held forever.
    endless = server.client.get("/asgi/endless")
    assert endless.status_code == 500
    assert "larger than 256 MiB; responses of gateway routes are sent whole" in endless.json()["detail"]

    # A client that goes away before the answer cancels the handler (as on program routes).
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"GET /asgi/wait HTTP/1.1\r\nHost: test\r\n\r\n")
        assert wait_until((marks / "started").exists, 30)
    assert wait_until((marks / "cancelled").exists, 30), "the handler never saw CancelledError"


def test_gateway_app_requests_time_out(serve, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    config = (
        DEFAULT_CONFIG
        + "server:\n  request_timeout_seconds: 3\n  max_concurrent_per_program: 1\n  queue_timeout_seconds: 0.5\n"
    )
    server = serve(ASGI_ROUTES, config, env={"MARKS": str(marks)})
    import socket

    # A client still uploading its body holds no slot: others are served meanwhile.
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as slow:
        slow.sendall(b"GET /asgi/items/x HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n")
        time.sleep(1)  # let the server take the request (only the fixed build passes either way)
        assert server.client.get("/asgi/items/y").json()["name"] == "y"
    late = server.client.get("/asgi/wait", timeout=60)
    assert late.status_code == 504
    assert "did not answer within 3.0 seconds (server.request_timeout_seconds)" in late.json()["detail"]
    assert wait_until((marks / "cancelled").exists, 30), "the timed-out handler kept running"
