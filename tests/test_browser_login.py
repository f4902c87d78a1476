"""The `--auth` login flow in a real browser (Playwright driving Debian's chromium, headless):
a protected page sends the browser to /login; a wrong token shows the error (markup in it stays
text); the right one logs in and pages load; logout sends the browser back to /login.

The browser setup is minimal here; the UI's browser tests bring the shared one (tests/browser.py).
Screenshots go to $TEST_ARTIFACTS (default: the test's tmp dir)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from serving import DEFAULT_CONFIG, make_project, start_server

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed (pip install playwright)"
)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"
)

TOKEN = "browser-token-0123456789abcdef"  # noqa: S105 - the test server's API key
MODULES = {
    "echo.py": """
        import dspy

        class Echo(dspy.Module):
            def forward(self, text: str) -> dict:
                return {"echo": text}
    """,
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = make_project(
        tmp_path_factory.mktemp("browser-auth"), MODULES, DEFAULT_CONFIG.format(api_base="http://127.0.0.1:9/v1")
    )
    server = start_server(root, "--auth", env={"DSPY_API_KEY": TOKEN})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as playwright:
        # --no-sandbox: chromium's sandbox cannot start as root or in most containers.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    context.set_default_timeout(30_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def artifacts(tmp_path) -> Path:
    folder = Path(os.environ.get("TEST_ARTIFACTS", tmp_path)) / "browser-login"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def log_in(page, token: str) -> None:
    page.fill("input[name=token]", token)
    with page.expect_navigation():
        page.click("button[type=submit]")


def test_login_flow(server, page, artifacts):
    # A protected page sends the browser to the login form.
    page.goto(server.url + "/")
    assert page.url == server.url + "/login"
    assert page.title() == "Login - DSPy API"

    # A wrong token: the error is shown; markup typed as the token is neither shown nor run.
    log_in(page, "<img src=x onerror=window.pwned=1>")
    assert page.url == server.url + "/login?error=Invalid+token"
    assert page.locator("[role=alert]").inner_text() == "Invalid token"
    assert page.evaluate("window.pwned") is None
    page.screenshot(path=str(artifacts / "1-wrong-token.png"))

    # An error text with markup renders as text.
    page.goto(server.url + "/login?error=" + "%3Cscript%3Ewindow.pwned%3D1%3C%2Fscript%3E")
    assert page.locator("[role=alert]").inner_text() == "<script>window.pwned=1</script>"
    assert page.evaluate("window.pwned") is None

    # The right token: the session cookie is set (invisible to scripts) and pages load.
    log_in(page, TOKEN)
    assert page.url == server.url + "/"
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "dspy_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert "dspy_session" not in page.evaluate("document.cookie")
    programs = page.goto(server.url + "/programs")
    assert programs.status == 200 and programs.json()["programs"][0]["name"] == "Echo"
    metrics = page.goto(server.url + "/api/metrics")
    assert metrics.status == 200
    # Back on /login while logged in: sent home.
    page.goto(server.url + "/login")
    assert page.url == server.url + "/"
    page.screenshot(path=str(artifacts / "2-logged-in.png"))

    # Logout (a form post, as a logout button sends it): back to the login page, locked again.
    with page.expect_navigation():
        page.evaluate(
            """() => { const f = document.createElement('form'); f.method = 'post'; f.action = '/logout';
                       document.body.appendChild(f); f.submit(); }"""
        )
    assert page.url == server.url + "/login"
    assert not [c for c in page.context.cookies() if c["name"] == "dspy_session"]
    page.goto(server.url + "/programs")
    assert page.url == server.url + "/login"
    page.screenshot(path=str(artifacts / "3-logged-out.png"))
