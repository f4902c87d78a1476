"""The `--auth` login flow in a real browser (Playwright driving Debian's chromium, headless):
a protected page sends the browser to /login; a wrong token shows the error (markup in it stays
text); the right one logs in and pages load; logout sends the browser back to /login.

Uses tests/browser.py's fixtures (the browser setup shared with the UI and API-docs tests)."""

from __future__ import annotations

import pytest

# conftest.py registers tests/browser.py's `browser` and `page` fixtures.
from browser import screenshot
from serving import DEFAULT_CONFIG, Server, make_project, start_server

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


def log_in(page, token: str) -> None:
    page.fill("input[name=token]", token)
    with page.expect_navigation():
        page.click("button[type=submit]")


def test_login_flow(server: Server, page) -> None:
    # A protected page sends the browser to the login form.
    page.goto(server.url + "/")
    assert page.url == server.url + "/login"
    assert page.title() == "Login - DSPy API"

    # A wrong token: the error is shown; markup typed as the token is neither shown nor run.
    log_in(page, "<img src=x onerror=window.pwned=1>")
    assert page.url == server.url + "/login?error=Invalid+token"
    assert page.locator("[role=alert]").inner_text() == "Invalid token"
    assert page.evaluate("window.pwned") is None
    screenshot(page, "login-1-wrong-token")

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
    screenshot(page, "login-2-logged-in")

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
    screenshot(page, "login-3-logged-out")
