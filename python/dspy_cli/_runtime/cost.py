"""Per-call LM cost in the usage DSPy tracks.

DSPy prices every LM call, but keeps the price only in LM history, which the server disables
(unbounded, unlocked lists). Copying the price into the call's usage entry lets per-request
usage tracking carry it, so inference logs get ``cost_usd`` without history.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger("dspy_cli.server")


def record_cost_in_usage() -> None:
    """Wrap ``dspy.clients.execution.finalize`` (looked up per call by ``BaseLM``)."""
    try:
        from dspy.clients import execution

        original = execution.finalize
    except (ImportError, AttributeError):
        logger.info("This dspy version has no clients.execution.finalize: cost_usd will not be logged")
        return
    if getattr(original, "_records_cost", False):
        return

    def finalize(lm: Any, call: Any, result: Any) -> Any:
        cost = getattr(result, "cost", None)
        usage = getattr(result, "usage", None)
        if cost is not None and isinstance(usage, dict):
            result.usage = {**usage, "cost": cost}
        return original(lm, call, result)

    finalize._records_cost = True  # type: ignore[attr-defined]
    execution.finalize = finalize
