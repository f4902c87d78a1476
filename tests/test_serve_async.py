"""The aforward path: cancellation on client disconnect; gateways and their status codes."""

from __future__ import annotations

import contextlib
import json

import httpx
from serving import wait_until

CANCELLABLE = {
    "sleepy.py": """
        import asyncio
        import os
        import dspy

        MARKER = os.environ["CANCEL_MARKER"]

        class Sleepy(dspy.Module):
            async def aforward(self, seconds: float) -> dict:
                try:
                    await asyncio.sleep(seconds)
                except asyncio.CancelledError:
                    with open(MARKER, "w") as handle:
                        handle.write("cancelled")
                    raise
                return {"slept": seconds}
    """
}


def test_client_disconnect_cancels_the_aforward_task(serve, tmp_path):
    marker = tmp_path / "cancelled.txt"
    server = serve(CANCELLABLE, env={"CANCEL_MARKER": str(marker)})
    assert server.post("/Sleepy", {"seconds": 0.01}).json() == {"slept": 0.01}
    with contextlib.suppress(httpx.ReadTimeout):
        httpx.post(server.url + "/Sleepy", json={"seconds": 30}, timeout=0.5)
    assert wait_until(marker.exists, 10), "the coroutine never saw CancelledError"
    assert marker.read_text() == "cancelled"
    # The cancelled request is logged as a failure; nothing is lost.
    assert wait_until(lambda: len(server.log_lines("Sleepy")) == 2, 5)
    entry = json.loads(server.log_lines("Sleepy")[-1])
    assert entry["success"] is False and "cancelled" in entry["error"]


GATEWAYS = {
    "gated.py": """
        import dspy
        from fastapi_like import HTTPException
        from dspy_cli.gateway import APIGateway, IdentityGateway

        class Webhook(APIGateway):
            path = "/webhooks/process"

            def to_pipeline_inputs(self, request):
                data = dict(request)["data"]
                if data.get("content") == "bad":
                    raise HTTPException(status_code=400, detail="bad input")
                return {"text": data["content"]}

            def from_pipeline_output(self, output):
                return {"status": "processed", "result": output}

        class PutGateway(APIGateway):
            path = "/custom/put"
            method = "PUT"

        class Upper(dspy.Module):
            gateway = [IdentityGateway, Webhook, PutGateway]

            def forward(self, text):
                return {"processed_text": text.upper(), "length": len(text)}
    """,
}

HTTP_EXCEPTION = """
class HTTPException(Exception):
    def __init__(self, status_code, detail=None):
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
"""


def test_gateways_get_their_own_routes_and_keep_http_exception_status(serve):
    server = serve(GATEWAYS, extra_files={"src/fastapi_like.py": HTTP_EXCEPTION})
    assert server.post("/Upper", {"text": "hi"}).json() == {"processed_text": "HI", "length": 2}
    response = server.post("/webhooks/process", {"data": {"content": "hello world"}})
    assert response.json() == {"status": "processed", "result": {"processed_text": "HELLO WORLD", "length": 11}}
    assert server.client.put("/custom/put", json={"text": "x"}).json() == {"processed_text": "X", "length": 1}
    response = server.post("/webhooks/process", {"data": {"content": "bad"}})
    assert response.status_code == 400 and response.json() == {"detail": "bad input"}
    # One log file per program, whatever the gateway.
    assert len(server.log_lines("Upper")) == 3
    assert server.client.get("/programs").json()["programs"] == [
        {"name": "Upper", "model": "alpha", "endpoint": "/Upper"}
    ]
