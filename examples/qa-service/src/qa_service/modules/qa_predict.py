import dspy

from qa_service.signatures.qa import QASignature


class QAPredict(dspy.Module):
    """A sync module: served from the GIL-aware thread pool."""

    def __init__(self):
        super().__init__()
        self.predictor = dspy.Predict(QASignature)

    def forward(self, question: str) -> dspy.Prediction:
        return self.predictor(question=question)
