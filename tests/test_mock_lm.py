"""The mock LM answers DSPy's adapters with values of the declared types."""

from __future__ import annotations

from typing import Any, Literal

import dspy
import httpx
from serving import start_mock_lm


class Everything(dspy.Signature):
    """Produce every type."""

    question: str = dspy.InputField()
    answer: str = dspy.OutputField()
    count: int = dspy.OutputField()
    score: float = dspy.OutputField()
    ok: bool = dspy.OutputField()
    tags: list[str] = dspy.OutputField()
    meta: dict[str, Any] = dspy.OutputField()
    label: Literal["pos", "neg"] = dspy.OutputField()
    maybe: int | None = dspy.OutputField()


def check(prediction: dspy.Prediction, model: str) -> None:
    assert prediction.answer == f"model={model}"
    assert isinstance(prediction.count, int) and isinstance(prediction.score, float)
    assert prediction.ok is True and prediction.tags == [f"model={model}"]
    assert prediction.meta == {} and prediction.label == "pos" and prediction.maybe == 42


def test_chat_and_json_adapters_parse_typed_answers(mock_lm):
    lm = dspy.LM("openai/gpt-4o-mini", api_base=mock_lm.api_base, api_key="k", cache=False)
    with dspy.context(lm=lm, adapter=dspy.ChatAdapter()):
        check(dspy.Predict(Everything)(question="q"), "gpt-4o-mini")
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
        check(dspy.Predict(Everything)(question="q"), "gpt-4o-mini")


def test_error_rate_fails_requests_with_500():
    with start_mock_lm(delay_ms=0, error_rate=1.0) as lm:
        response = httpx.post(f"{lm.api_base}/chat/completions", json={"model": "m", "messages": []})
        assert response.status_code == 500 and "injected failure" in response.json()["error"]["message"]
