"""Make values loggable: dspy.Image data URIs are saved under ``logs/img/`` and replaced by path."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from pathlib import Path
from typing import Any

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/jpg": "jpg", "image/gif": "gif"}
_EXTENSIONS |= {"image/webp": "webp", "image/svg+xml": "svg"}


def _save_image(data_uri: str, program: str, logs_dir: Path, field: str) -> str:
    try:
        header, data = data_uri.split(",", 1)
        mime = header[5:].split(";", 1)[0]
        payload = base64.b64decode(data) if "base64" in header else data.encode()
        stamp = datetime.now().strftime("%Y%m%d_%H%M%S_%f")
        name = f"{program}_{stamp}_{field}.{_EXTENSIONS.get(mime, 'png')}"
        (logs_dir / "img").mkdir(parents=True, exist_ok=True)
        (logs_dir / "img" / name).write_bytes(payload)
        return f"img/{name}"
    except (OSError, ValueError, binascii.Error) as exc:
        return f"data:[error saving image: {str(exc)[:50]}]"


def _is_dspy_object(value: Any) -> bool:
    return type(value).__module__.startswith("dspy")


def loggable(value: Any, program: str, logs_dir: Path, key: str = "") -> Any:
    """Copy of ``value`` where dspy objects become JSON-friendly and images become files."""
    if isinstance(value, dict):
        return {k: loggable(v, program, logs_dir, f"{key}_{k}" if key else str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        prefix = key or "item"
        return [loggable(v, program, logs_dir, f"{prefix}_{i}") for i, v in enumerate(value)]
    if not _is_dspy_object(value):
        return value
    if type(value).__name__ == "Image":
        url = getattr(value, "url", None) or str(value)
        return _save_image(url, program, logs_dir, key) if url.startswith("data:") else url
    if hasattr(value, "toDict"):
        return loggable(value.toDict(), program, logs_dir, key)
    if hasattr(value, "model_dump"):
        return loggable(value.model_dump(), program, logs_dir, key)
    return str(value)
