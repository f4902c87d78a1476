"""Headless Chromium for the browser tests: the Python `playwright` package driving Debian's
`chromium` (never a downloaded browser). Shared by the UI, API-docs and login-flow tests.

conftest.py registers the `browser` (session) and `page` (per test) fixtures; `screenshot(page,
name)` keeps a picture of what a test saw under tests/artifacts/."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
TIMEOUT_MS = 30_000  # a loaded 2-core box renders slowly; waits are on conditions, not sleeps


def chromium_path() -> str | None:
    for candidate in (os.environ.get("DSPY_TEST_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


# Per module, not per session: Playwright's sync API keeps an asyncio loop running in the main
# thread while it is started, which would break later tests that call asyncio.run().
@pytest.fixture(scope="module")
def browser() -> Iterator:
    try:
        from playwright import sync_api
    except ImportError:
        pytest.fail("the playwright package is missing: run `make .venv/.browser` (or `make test-python`)")
    executable = chromium_path()
    if executable is None:
        pytest.fail("chromium is not installed: run `make .venv/.browser` (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: Chromium refuses to start as root with its sandbox on, and containers often
        # lack the user namespaces it needs otherwise; it only ever loads our local test server.
        instance = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        yield instance
        instance.close()


@pytest.fixture
def page(browser) -> Iterator:
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.js_errors = errors
    yield tab
    context.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / (re.sub(r"[^\w.-]+", "_", name) + ".png")
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path
