"""The LM each request runs with: what ``lm.copy()`` returns, made cheaply.

Every request gets its own copy of its program's LM (design.md §3), so a module that changes
``lm.kwargs`` or ``lm.callbacks`` during a call cannot leak that into other requests. With
history disabled that isolation is all the copy is still for, and ``dspy.LM.copy()`` spends
most of its time on work whose answer cannot change after start-up: it re-validates the engine
settings and scans every class of the LM's type for slots. For a plain ``dspy.LM`` (no
subclass overriding how it copies, no slots) the copy below makes the same object: the same
attributes by reference, and fresh ``history``, ``callbacks`` and ``kwargs`` containers, as
``BaseLM.copy`` does. Anything else keeps calling its own ``copy()``.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any


def _copies_like_dspy(lm: Any) -> bool:
    import dspy

    cls = type(lm)
    if not isinstance(lm, dspy.LM) or cls.copy is not dspy.LM.copy or cls.__copy__ is not dspy.LM.__copy__:
        return False
    # Slots are what LM.__copy__ scans the MRO for; with none, the instance dict is everything.
    return not any(
        isinstance(descriptor, types.MemberDescriptorType) and hasattr(lm, name)
        for klass in cls.__mro__
        for name, descriptor in vars(klass).items()
    )


def factory(lm: Any) -> Callable[[], Any]:
    """A function returning a fresh per-request copy of ``lm`` (``lm.copy`` when in doubt)."""
    try:
        lm.copy()  # whatever LM.copy would refuse, it refuses per request too: keep its path
        fast = _copies_like_dspy(lm)
    except Exception:
        fast = False
    if not fast:
        own_copy: Callable[[], Any] = lm.copy
        return own_copy
    cls, new_object, source = type(lm), object.__new__, lm.__dict__

    def copy() -> Any:
        new = new_object(cls)
        state = new.__dict__
        state.update(source)
        state["history"] = []
        state["callbacks"] = list(source.get("callbacks") or [])
        state["kwargs"] = dict(source.get("kwargs") or {})
        if "_warned_zero_temp_rollout" in state:
            state["_warned_zero_temp_rollout"] = False
        return new

    return copy
