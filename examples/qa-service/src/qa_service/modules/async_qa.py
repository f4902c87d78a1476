import dspy

from qa_service.signatures.qa import QASignature


class AsyncQA(dspy.Module):
    """An async module: its aforward runs on the server's asyncio loop."""

    def __init__(self):
        super().__init__()
        self.predictor = dspy.ChainOfThought(QASignature)

    def forward(self, question: str) -> dspy.Prediction:
        return self.predictor(question=question)

    async def aforward(self, question: str) -> dspy.Prediction:
        return await self.predictor.acall(question=question)
