"""The project the browser tests serve: every form field kind, an image input, a custom-path
gateway, an untyped module and a module that echoes its input (for the XSS checks)."""

from __future__ import annotations

MODULES = {
    "kinds.py": '''
        from typing import Literal, Optional
        import dspy
        from dspy_cli.gateway import IdentityGateway

        class Kinds(dspy.Module):
            """Echoes every field kind the form can produce."""
            def forward(self, question: str, count: int, ratio: float, loud: bool,
                        mode: Literal["fast", "slow"], tags: list[str],
                        extra: Optional[dict] = None) -> dict:
                text = question.upper() if loud else question
                return {"answer": f"{text}|{count}|{ratio}|{mode}|{','.join(tags)}|{extra}"}

        class Echo(dspy.Module):
            """Returns its input unchanged, so an output can contain markup."""
            def forward(self, text: str) -> dict:
                return {"echo": text}

        class Custom(IdentityGateway):
            path = "/api/v2/shout"

        class Shout(dspy.Module):
            gateway = Custom
            def forward(self, text: str) -> dict:
                return {"shout": text.upper() + "!"}

        class Loose(dspy.Module):
            def forward(self, text):
                return {"echo": text}

        class Ask(dspy.Module):
            def __init__(self):
                super().__init__()
                self.predict = dspy.Predict("question -> answer")
            def forward(self, question: str) -> dspy.Prediction:
                return self.predict(question=question)
    ''',
    "vision.py": """
        import dspy

        class Describe(dspy.Module):
            def forward(self, image: dspy.Image, note: str = "") -> dict:
                return {"kind": type(image).__name__, "is_data_uri": image.url.startswith("data:"),
                        "prefix": image.url[:22]}
    """,
}
