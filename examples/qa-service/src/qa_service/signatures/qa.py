"""Signature definitions for qa."""

from typing import Literal

import dspy


class QASignature(dspy.Signature):
    """Answer the question concisely."""

    question: str = dspy.InputField(desc="")
    answer: str = dspy.OutputField(desc="")


class SentimentSignature(dspy.Signature):
    """Classify the sentiment of a text."""

    text: str = dspy.InputField(desc="")
    sentiment: Literal["positive", "negative", "neutral"] = dspy.OutputField(desc="")
    confidence: float = dspy.OutputField(desc="")
