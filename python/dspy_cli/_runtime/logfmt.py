"""Make values loggable: dspy.Image data URIs are saved under ``logs/img/`` and replaced by path.

Saved images are capped per image (``server.log_image_max_bytes``) and in total
(``server.log_images_max_total_bytes``, counting what ``logs/img`` held at start-up). An image
over a cap is not saved: the log holds a reference (size and a hash) instead, and the engine
counts it for ``/metrics``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from dspy_cli._native import count_image_not_saved

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/jpg": "jpg", "image/gif": "gif"}
_EXTENSIONS |= {"image/webp": "webp", "image/svg+xml": "svg"}


class ImageBudget:
    """The caps on saved images and the bytes ``logs/img`` holds (shared by request threads)."""

    def __init__(self, max_bytes: int, max_total_bytes: int, used: int = 0) -> None:
        self.max_bytes, self.max_total_bytes, self.used = max_bytes, max_total_bytes, used
        self._lock = threading.Lock()

    def reserve(self, size: int) -> str | None:
        """Count ``size`` bytes as saved, or return the key of the cap they would break."""
        if size > self.max_bytes:
            return f"server.log_image_max_bytes ({self.max_bytes})"
        with self._lock:
            if self.used + size > self.max_total_bytes:
                return f"server.log_images_max_total_bytes ({self.max_total_bytes})"
            self.used += size
        return None


_budget = ImageBudget(10 * 1024 * 1024, 1024 * 1024 * 1024)


def configure(logs_dir: Path, max_bytes: int, max_total_bytes: int) -> None:
    """Set the caps; what ``logs/img`` already holds counts against the total."""
    global _budget
    img = logs_dir / "img"
    used = sum(p.stat().st_size for p in img.iterdir() if p.is_file()) if img.is_dir() else 0
    _budget = ImageBudget(max_bytes, max_total_bytes, used)


def _not_saved(data: str, size: int, cap: str) -> str:
    count_image_not_saved()
    digest = hashlib.sha256(data.encode()).hexdigest()[:16]
    return f"data:[image not saved: {size} bytes, over {cap}; sha256 of the data {digest}]"


def _save_image(data_uri: str, program: str, logs_dir: Path, field: str) -> str:
    try:
        header, data = data_uri.split(",", 1)
        mime = header[5:].split(";", 1)[0]
        is_base64 = "base64" in header
        # Decoded size, known before decoding (an oversized image is never decoded).
        size = len(data) * 3 // 4 - data.count("=", -2) if is_base64 else len(data.encode())
        cap = _budget.reserve(size)
        if cap is not None:
            return _not_saved(data, size, cap)
        payload = base64.b64decode(data) if is_base64 else data.encode()
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
