"""Request validation (FastAPI-identical 422 bodies), output handling and error responses."""

from __future__ import annotations

import json

import pytest

MODULES = {
    "typed.py": """
        from typing import Literal, Optional
        import dspy

        class Typed(dspy.Module):
            def forward(self, question: str, count: int = 2, mode: Literal["a", "b"] = "a",
                        note: Optional[str] = None, tags: list[str] = []) -> dspy.Prediction:
                return dspy.Prediction(echo=f"{question}|{count}|{mode}|{note}|{','.join(tags)}")

        class Strict(dspy.Module):
            def forward(self, question: str) -> dict:
                if question == "boom":
                    raise ValueError("the module failed on purpose")
                return {"echo": question}

        class Untyped(dspy.Module):
            def forward(self, text):
                return {"echo": text}

        class Scalar(dspy.Module):
            def forward(self, text: str) -> str:
                return text.upper()

        class WrongOutput(dspy.Module):
            def forward(self, text: str) -> int:
                return "not an int"
    """,
}


@pytest.fixture
def server(serve):
    return serve(MODULES)


def detail(response):
    return response.json()["detail"]


def test_fastapi_identical_422_bodies(server):
    cases = [
        ({}, [{"type": "missing", "loc": ["body", "question"], "msg": "Field required", "input": {}}]),
        (
            {"question": 5},
            [{"type": "string_type", "loc": ["body", "question"], "msg": "Input should be a valid string", "input": 5}],
        ),
        (
            [1, 2],
            [
                {
                    "type": "model_attributes_type",
                    "loc": ["body"],
                    "msg": "Input should be a valid dictionary or object to extract fields from",
                    "input": [1, 2],
                }
            ],
        ),
    ]
    for body, expected in cases:
        response = server.post("/Typed", body)
        assert response.status_code == 422
        assert response.json() == {"detail": expected}
    response = server.client.post("/Typed", content=b"not json", headers={"content-type": "application/json"})
    assert response.json() == {
        "detail": [
            {
                "type": "json_invalid",
                "loc": ["body", 0],
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": "Expecting value"},
            }
        ]
    }
    response = server.client.post("/Typed", content=b'{"question": "x"}', headers={"content-type": "text/plain"})
    assert response.status_code == 422
    assert (
        detail(response)[0]["type"] == "model_attributes_type" and detail(response)[0]["input"] == '{"question": "x"}'
    )
    response = server.client.post("/Untyped")
    assert response.json() == {"detail": [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}]}


def test_every_failing_field_is_listed_and_literal_errors_carry_ctx(server):
    response = server.post("/Typed", {"count": 3.5, "mode": "z"})
    errors = detail(response)
    assert [e["loc"] for e in errors] == [["body", "question"], ["body", "count"], ["body", "mode"]]
    assert errors[1]["type"] == "int_from_float"
    assert errors[2]["type"] == "literal_error" and errors[2]["ctx"] == {"expected": "'a' or 'b'"}


def test_python_defaults_and_lax_coercion(server):
    assert server.post("/Typed", {"question": "q"}).json() == {"echo": "q|2|a|None|"}
    body = {"question": "q", "count": "7", "mode": "b", "note": "n", "tags": ["x", "y"], "extra": 1}
    assert server.post("/Typed", body).json() == {"echo": "q|7|b|n|x,y"}


def test_dict_returning_module_still_validates_inputs(server):
    assert server.post("/Strict", {}).status_code == 422
    assert server.post("/Strict", {"question": "hi"}).json() == {"echo": "hi"}


def test_module_exception_is_json_500_and_logged_as_error(server):
    response = server.post("/Strict", {"question": "boom"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "the module failed on purpose"}
    entry = json.loads(server.log_lines("Strict")[-1])
    assert entry["success"] is False and entry["error"] == "the module failed on purpose" and entry["outputs"] == {}
    assert list(entry).index("error") < list(entry).index("success")


def test_untyped_module_gets_kwargs_and_type_errors_are_500(server):
    assert server.post("/Untyped", {"text": "t"}).json() == {"echo": "t"}
    response = server.post("/Untyped", {"wrong": "t"})
    assert response.status_code == 500
    assert "unexpected keyword argument 'wrong'" in detail(response)


def test_scalar_output_uses_result_key_and_mismatch_is_json_500_logged_as_error(server):
    assert server.post("/Scalar", {"text": "abc"}).json() == {"result": "ABC"}
    response = server.post("/WrongOutput", {"text": "abc"})
    assert response.status_code == 500
    assert "does not match its declared return type" in detail(response)
    entry = json.loads(server.log_lines("WrongOutput")[-1])
    assert entry["success"] is False


def test_unknown_program_wrong_method_and_trailing_slash(server):
    assert server.post("/Nope", {}).status_code == 404
    assert server.post("/Nope", {}).json() == {"detail": "Not Found"}
    response = server.client.get("/Typed")
    assert response.status_code == 405 and response.json() == {"detail": "Method Not Allowed"}
    response = server.client.post("/programs")
    assert response.status_code == 405 and response.json() == {"detail": "Method Not Allowed"}
    response = server.client.post("/Typed/", json={"question": "q"})
    assert response.status_code == 307 and response.headers["location"] == "/Typed"


def test_422s_are_not_logged(server):
    server.post("/Strict", {})
    assert server.log_lines("Strict") == []


IMAGE = {
    "vision.py": """
        import dspy

        class Describe(dspy.Module):
            def forward(self, image: dspy.Image, note: str = "") -> dict:
                return {"kind": type(image).__name__, "is_data_uri": image.url.startswith("data:")}
    """
}
PNG_1PX = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def test_image_inputs_become_dspy_images_and_are_saved_beside_the_log(serve):
    import base64

    server = serve(IMAGE)
    response = server.post("/Describe", {"image": f"data:image/png;base64,{PNG_1PX}"})
    assert response.json() == {"kind": "Image", "is_data_uri": True}
    entry = json.loads(server.log_lines("Describe")[-1])
    saved = entry["inputs"]["image"]
    assert saved.startswith("img/Describe_") and saved.endswith("_image.png")
    assert (server.logs / saved).read_bytes() == base64.b64decode(PNG_1PX)
    spec = server.client.get("/openapi.json").json()
    assert spec["components"]["schemas"]["DescribeRequest"]["properties"]["image"]["type"] == "string"


ODD_OUTPUT = {
    "odd.py": """
        import datetime
        import dspy

        class Opaque:
            __slots__ = ()
            def __str__(self):
                return "<opaque>"

        class Odd(dspy.Module):
            def forward(self, text: str) -> dict:
                return {"when": datetime.datetime(2026, 1, 2, 3, 4, 5), "tags": {"b"}, "obj": Opaque()}
    """
}


def test_unserialisable_outputs_are_logged_via_str_and_the_writer_survives(serve):
    server = serve(ODD_OUTPUT)
    for _ in range(2):
        response = server.post("/Odd", {"text": "x"})
        assert response.status_code == 200
        assert response.json() == {"when": "2026-01-02T03:04:05", "tags": ["b"], "obj": "<opaque>"}
    lines = [json.loads(line) for line in server.log_lines("Odd")]
    assert len(lines) == 2 and lines[-1]["outputs"]["obj"] == "<opaque>"


EDGE_MODULES = {
    "edges.py": '''
        from typing import Any
        import dspy
        import pydantic

        class FlakyInit(dspy.Module):
            def __init__(self):
                super().__init__()
                raise RuntimeError("cannot start yet")

            def forward(self, text: str) -> dict:
                return {"text": text}

        class QA(dspy.Signature):
            """Answer."""
            question: str = dspy.InputField()
            answer: str = dspy.OutputField()

        class CustomPredict(dspy.Predict):
            """Subclass of a built-in that overrides forward only: must run its own forward."""
            def __init__(self):
                super().__init__(QA)

            def forward(self, question: str) -> dict:
                return {"answer": "custom forward ran"}

        class RateLimited(Exception):
            status_code = 429
            detail = "provider says slow down"

        class ProviderError(dspy.Module):
            def forward(self, text: str) -> dict:
                raise RateLimited("provider says slow down")

        class Box(pydantic.BaseModel):
            content: Any

        class Unserialisable(dspy.Module):
            def forward(self, text: str) -> Box:
                return Box(content=object())

        class AsyncUnserialisable(dspy.Module):
            async def aforward(self, text: str) -> Box:
                return Box(content=object())

        class Accepted:
            status_code = 202
            body = b'{"queued":true}'

        from dspy_cli.gateway import IdentityGateway

        class Async202(IdentityGateway):
            def from_pipeline_output(self, output):
                return Accepted()

        class Queued(dspy.Module):
            gateway = Async202

            def forward(self, text):
                return {"text": text}
    '''
}


def test_edge_cases_of_modules_and_gateways(serve):
    server = serve(EDGE_MODULES)
    # A constructor that fails is served anyway and retried per request, as upstream.
    response = server.post("/FlakyInit", {"text": "x"})
    assert response.status_code == 500 and response.json() == {"detail": "cannot start yet"}
    # Overriding forward on a DSPy built-in keeps the sync path (its inherited aforward is not used).
    assert server.post("/CustomPredict", {"question": "q"}).json() == {"answer": "custom forward ran"}
    # An exception carrying status_code from the module is still a 500 (not the provider's 429).
    response = server.post("/ProviderError", {"text": "x"})
    assert response.status_code == 500 and response.json() == {"detail": "provider says slow down"}
    # Output that cannot be serialised: a logged JSON 500 on both paths, never a hang.
    for program in ("Unserialisable", "AsyncUnserialisable"):
        response = server.post(f"/{program}", {"text": "x"})
        assert response.status_code == 500, program
        assert json.loads(server.log_lines(program)[-1])["success"] is False
    # A gateway returning a Starlette-style response passes it through.
    response = server.post("/Queued", {"text": "x"})
    assert response.status_code == 202 and response.json() == {"queued": True}
    # Invalid UTF-8 in a JSON body: Starlette's 400.
    response = server.client.post("/Queued", content=b'{"text": "\xff"}', headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json() == {"detail": "There was an error parsing the body"}
