import dspy

from qa_service.signatures.qa import SentimentSignature


class Sentiment(dspy.Module):
    def __init__(self):
        super().__init__()
        self.classify = dspy.Predict(SentimentSignature)

    def forward(self, text: str, language: str = "en") -> dspy.Prediction:
        return self.classify(text=text)
