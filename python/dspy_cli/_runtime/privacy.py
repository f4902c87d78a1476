"""What the Python side prints or fetches: credentials redacted, and no downloads when offline.

Called by the engine before dspy and litellm are imported, so the handlers they create write
through the redacting streams and their import-time downloads see the offline switches.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

from dspy_cli._native import redact

# LiteLLM's cost map and DSPy's model metadata are fetched from the network unless this is set
# (both then use the copy bundled with the package); LiteLLM's offline mode covers the rest.
OFFLINE_ENVIRONMENT = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_OFFLINE_MODE": "true"}


class RedactingStream:
    """A text stream whose writes have credentials replaced by ``***`` (see ``_native.redact``)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def install(offline: bool) -> None:
    if offline:
        # --mock-lm is offline by definition: these win over the environment.
        os.environ.update(OFFLINE_ENVIRONMENT)
    if not isinstance(sys.stderr, RedactingStream):
        sys.stderr = RedactingStream(sys.stderr)
        sys.stdout = RedactingStream(sys.stdout)
