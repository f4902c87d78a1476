"""`--auth` against a real server: bearer tokens, the login page and its cookie, open routes,
the login rate limit, and a sweep over every route proving only the open ones need no
credentials (reference server.md §8, with the fixes of design.md §6)."""

from __future__ import annotations

import hashlib
import hmac
import re
import time

import httpx
import pytest
from serving import DEFAULT_CONFIG, make_project, run_cli, start_server

TOKEN = "test-token-0123456789abcdef"  # noqa: S105 - the test server's API key
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
LOGIN_ATTEMPTS = 3

MODULES = {
    "echo.py": """
        import dspy

        class Echo(dspy.Module):
            def forward(self, text: str) -> dict:
                return {"echo": text}
    """,
    "hooks.py": """
        import dspy
        from dspy_cli.gateway import APIGateway

        class PublicHook(APIGateway):
            path = "/hooks/public"
            requires_auth = False

        class PrivateHook(APIGateway):
            path = "/hooks/private"

        class OpenApp(APIGateway):
            # A FastAPI route of its own, public; the private one below shares its prefix.
            path = "/app/{item}"
            requires_auth = False

            def configure_route(self, app, route_path, endpoint, response_model):
                @app.get(route_path)
                async def read(item: str):
                    return {"item": item, "open": True}

        class ClosedApp(APIGateway):
            path = "/app/item/secret"

            def configure_route(self, app, route_path, endpoint, response_model):
                @app.get(route_path)
                async def secret():
                    return {"secret": True}

        class Public(dspy.Module):
            gateway = PublicHook

            def forward(self, text: str) -> dict:
                return {"public": text}

        class Private(dspy.Module):
            gateway = PrivateHook

            def forward(self, text: str) -> dict:
                return {"private": text}

        class Apps(dspy.Module):
            gateway = [OpenApp, ClosedApp]

            def forward(self, text: str) -> dict:
                return {"apps": text}
    """,
}

BASE_CONFIG = DEFAULT_CONFIG.format(api_base="http://127.0.0.1:9/v1")
# The shared server makes some wrong logins on purpose: room for them.
CONFIG = BASE_CONFIG + "\nserver:\n  login_attempts_per_minute: 100\n"
LIMITED_CONFIG = BASE_CONFIG + f"\nserver:\n  login_attempts_per_minute: {LOGIN_ATTEMPTS}\n"

# (method, path) that answer without credentials; everything else must not.
OPEN = {
    ("GET", "/health"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/login"),
    ("POST", "/logout"),
    ("POST", "/hooks/public"),
    ("GET", "/app/anything"),
    ("POST", "/login"),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("auth"), MODULES, CONFIG)
    server = start_server(root, "--auth", env={"DSPY_API_KEY": TOKEN})
    yield server
    server.stop()


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(server, token: str = TOKEN, **headers) -> httpx.Response:
    return httpx.post(f"{server.url}/login", data={"token": token}, headers=headers, timeout=30)


def session_cookie(server) -> str:
    response = login(server)
    assert response.status_code == 303, response.text
    return response.cookies["dspy_session"]


def signed(issued_at: int, key: str = TOKEN) -> str:
    # Upstream's format, computed independently here.
    signature = hmac.new(key.encode(), str(issued_at).encode(), hashlib.sha256).hexdigest()
    return f"{issued_at}.{signature}"


def test_bearer_token_right_missing_wrong(server):
    assert server.client.get("/programs", headers=bearer()).status_code == 200
    assert server.client.get("/programs", headers={"Authorization": f"bearer   {TOKEN}"}).status_code == 200
    missing = server.client.get("/programs")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.headers["content-type"] == "application/json"
    assert missing.json() == {"detail": "Not authenticated. Provide Authorization: Bearer <token> header."}
    wrong = server.post("/Echo", {"text": "hi"}, headers=bearer(TOKEN + "x"))
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert "Invalid token" in wrong.json()["detail"] and TOKEN not in wrong.text
    assert server.post("/Echo", {"text": "hi"}, headers=bearer()).json() == {"echo": "hi"}
    # curl's default Accept gets JSON, not a redirect (upstream: 303).
    assert server.client.get("/programs", headers={"Accept": "*/*"}).status_code == 401


def test_browsers_are_sent_to_login_but_api_paths_get_json(server):
    page = server.client.get("/", headers=BROWSER)
    assert page.status_code == 303 and page.headers["location"] == "/login"
    assert server.client.get("/ui/Echo", headers=BROWSER).headers["location"] == "/login"
    api = server.client.get("/api/metrics", headers=BROWSER)
    assert api.status_code == 401 and api.json()["detail"].startswith("Not authenticated")


def test_login_page_escapes_its_error_and_never_echoes_the_token(server):
    page = server.client.get("/login")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<title>Login - DSPy API</title>" in page.text
    assert '<input type="password" id="token" name="token"' in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    attack = server.client.get("/login", params={"error": "<script>alert(1)</script>"})
    assert "<script>" not in attack.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in attack.text
    guess = "<script>alert('guess')</script>"
    wrong = login(server, guess)
    assert wrong.status_code == 303 and wrong.headers["location"] == "/login?error=Invalid+token"
    shown = server.client.get(wrong.headers["location"])
    assert "Invalid token" in shown.text and "guess" not in shown.text
    assert "dspy_session" not in wrong.headers.get("set-cookie", "")


def test_login_sets_a_session_cookie_that_opens_every_page(server):
    response = login(server)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert re.fullmatch(r"dspy_session=\d+\.[0-9a-f]{64}; HttpOnly; Max-Age=604800; Path=/; SameSite=Lax", cookie), (
        cookie
    )
    assert response.headers["cache-control"] == "no-store"
    # Behind an https proxy the cookie is Secure.
    assert login(server, **{"X-Forwarded-Proto": "https"}).headers["set-cookie"].endswith("; Secure")
    cookies = {"dspy_session": response.cookies["dspy_session"]}
    with httpx.Client(base_url=server.url, cookies=cookies, timeout=30) as browser:
        assert browser.get("/programs").status_code == 200
        assert browser.post("/Echo", json={"text": "c"}).json() == {"echo": "c"}
        assert browser.get("/api/metrics").status_code == 200
        # Already logged in: the login page sends the browser home.
        again = browser.get("/login", headers=BROWSER)
        assert again.status_code == 303 and again.headers["location"] == "/"


def test_a_missing_token_field_is_a_422(server):
    response = httpx.post(f"{server.url}/login", data={"other": "x"}, timeout=30)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "token"]


def test_logout_clears_the_cookie(server):
    cookies = {"dspy_session": session_cookie(server)}
    response = httpx.post(f"{server.url}/logout", cookies=cookies, timeout=30)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    cleared = response.headers["set-cookie"]
    assert cleared.startswith('dspy_session=""') and "Max-Age=0" in cleared and "Path=/" in cleared
    # Logging out without a session is harmless.
    assert httpx.post(f"{server.url}/logout", timeout=30).status_code == 303


@pytest.mark.parametrize(
    "value",
    [
        "tampered-signature",
        "expired",
        "other-key",
        "far-future",
        "garbage",
    ],
)
def test_tampered_forged_and_expired_cookies_are_refused(server, value):
    now = int(time.time())
    good = session_cookie(server)
    issued, signature = good.split(".")
    cookie = {
        "tampered-signature": f"{issued}.{signature[:-1]}{'0' if signature[-1] != '0' else '1'}",
        "expired": signed(now - 7 * 24 * 3600 - 60),
        "other-key": signed(now, key="not-the-key"),
        "far-future": signed(now + 3600),
        "garbage": "not-a-session",
    }[value]
    response = httpx.get(f"{server.url}/programs", cookies={"dspy_session": cookie}, timeout=30)
    assert response.status_code == 401
    assert response.json()["detail"].startswith("Session expired or invalid")
    # A session signed the same way, fresh, is accepted: the refusals above are not format errors.
    assert (
        httpx.get(f"{server.url}/programs", cookies={"dspy_session": signed(now - 60)}, timeout=30).status_code == 200
    )


def test_health_probes_and_public_gateways_are_open(server):
    assert server.client.get("/health").json() == {"status": "ok"}
    assert server.client.get("/health/live").json() == {"status": "alive"}
    assert server.client.get("/health/ready").status_code == 200
    assert server.post("/hooks/public", {"text": "p"}).json() == {"public": "p"}
    assert server.post("/hooks/private", {"text": "p"}).status_code == 401
    assert server.post("/hooks/private", {"text": "p"}, headers=bearer()).json() == {"private": "p"}
    assert server.client.get("/app/thing").json() == {"item": "thing", "open": True}
    assert server.client.get("/app/item/secret").status_code == 401
    assert server.client.get("/app/item/secret", headers=bearer()).json() == {"secret": True}
    # An encoded "/" matches the public pattern as sent, but the app routes it, decoded, to the
    # private route: it must stay closed.
    sneaky = server.client.get("/app/item%2Fsecret")
    assert sneaky.status_code == 401, sneaky.text


def all_routes(server) -> set[tuple[str, str]]:
    """Every route: the OpenAPI operations, the built-in and UI routes, and unknown paths."""
    spec = server.client.get("/openapi.json", headers=bearer()).json()
    routes = {
        (method.upper(), re.sub(r"\{[^}]+\}", "anything", path))
        for path, operations in spec["paths"].items()
        for method in operations
    }
    assert ("POST", "/Echo") in routes and ("POST", "/hooks/public") in routes, routes
    assert ("GET", "/app/anything") in routes, routes
    routes |= {
        ("GET", path)
        for path in (
            "/",
            "/ui/Echo",
            "/docs",
            "/redoc",
            "/docs/oauth2-redirect",
            "/openapi.json",
            "/programs",
            "/api/metrics",
            "/api/metrics/Echo",
            "/api/logs/Echo",
            "/metrics",
            "/health",
            "/health/live",
            "/health/ready",
            "/login",
            "/no/such/route",
            "/mcp",
        )
    }
    routes |= {("POST", "/logout"), ("POST", "/login"), ("DELETE", "/Echo"), ("POST", "/app/item/secret")}
    return routes


def test_only_the_open_routes_answer_without_credentials(server):
    routes = all_routes(server)
    cookies = {"dspy_session": session_cookie(server)}
    checked = 0
    for method, path in sorted(routes):
        body = {"text": "x"} if method == "POST" and path != "/login" else None
        data = {"token": "wrong"} if path == "/login" and method == "POST" else None
        anonymous = httpx.request(method, server.url + path, json=body, data=data, timeout=30)
        if (method, path) in OPEN:
            assert anonymous.status_code in (200, 303), (method, path, anonymous.status_code, anonymous.text)
            assert anonymous.headers.get("location") != "/login" or path in ("/login", "/logout"), (method, path)
        else:
            assert anonymous.status_code == 401, (method, path, anonymous.status_code, anonymous.text)
            assert anonymous.headers["www-authenticate"] == "Bearer"
            as_browser = httpx.request(method, server.url + path, json=body, headers=BROWSER, timeout=30)
            expected = 401 if path.startswith("/api/") else 303
            assert as_browser.status_code == expected, (method, path)
        for credentials in ({"headers": bearer()}, {"cookies": cookies}):
            answered = httpx.request(method, server.url + path, json=body, data=data, timeout=30, **credentials)
            assert answered.status_code != 401, (method, path, credentials, answered.text)
        checked += 1
    assert checked >= 25


def test_login_rate_limit_spares_the_real_user(server, tmp_path):
    # A fresh server: the module's server has seen other wrong logins.
    root = make_project(tmp_path, MODULES, LIMITED_CONFIG)
    limited = start_server(root, "--auth", env={"DSPY_API_KEY": TOKEN})
    try:
        cookies = {"dspy_session": session_cookie(limited)}
        for _ in range(LOGIN_ATTEMPTS):
            assert login(limited, "wrong").status_code == 303
        refused = login(limited, "wrong")
        assert refused.status_code == 429
        assert refused.json()["detail"].startswith("Too many failed logins from this address")
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        # While the address is limited, the form refuses even the right token...
        assert login(limited).status_code == 429
        # ...but the real user's bearer token and existing session still work.
        assert limited.client.get("/programs", headers=bearer()).status_code == 200
        assert httpx.get(f"{limited.url}/programs", cookies=cookies, timeout=30).status_code == 200
        assert "Login rate limit reached for 127.0.0.1" in limited.stderr()
    finally:
        limited.stop()


def test_generated_key_is_printed_once_and_works(tmp_path):
    root = make_project(tmp_path, MODULES, CONFIG)
    # An empty DSPY_API_KEY counts as unset: it would otherwise let an empty token in.
    server = start_server(root, "--auth", env={"DSPY_API_KEY": ""})
    try:
        stderr = server.stderr()
        assert "DSPY_API_KEY is set but empty; ignoring it." in stderr
        lines = stderr.splitlines()
        index = next(
            i for i, line in enumerate(lines) if line.endswith("DSPY_API_KEY not set. Generated temporary token:")
        )
        assert lines[index - 1].endswith("WARNING - " + "=" * 60)
        key = lines[index + 1].split(" - WARNING -   ")[1]
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", key), key
        assert lines[index + 2].endswith("Set DSPY_API_KEY as an environment secret for a persistent token.")
        assert stderr.count(key) == 1 and key not in server.stdout()
        out = server.stdout()
        # Upstream's order: the banner, the auth lines, the Ctrl+C hint.
        assert (
            out.index("Server starting on")
            < out.index(
                "Authentication: ENABLED\n  API clients: Authorization: Bearer <token>\n  Browser: Visit /login to authenticate\n"
            )
            < out.index("Press Ctrl+C")
        )
        assert server.client.get("/programs", headers=bearer(key)).status_code == 200
        assert server.client.get("/programs", headers={"Authorization": "Bearer"}).status_code == 401
    finally:
        server.stop()


def test_key_from_dotenv_and_no_auth_without_the_flag(tmp_path, monkeypatch):
    monkeypatch.delenv("DSPY_API_KEY", raising=False)
    root = make_project(tmp_path, MODULES, CONFIG, extra_files={".env": f"DSPY_API_KEY={TOKEN}-dotenv\n"})
    server = start_server(root, "--auth")
    try:
        assert "Generated temporary token" not in server.stderr()
        assert server.client.get("/programs", headers=bearer(f"{TOKEN}-dotenv")).status_code == 200
        assert server.client.get("/programs", headers=bearer()).status_code == 401
    finally:
        server.stop()
    # Without --auth nothing is protected and /login, /health do not exist.
    (root / "server.stdout").unlink()
    server = start_server(root)
    try:
        assert server.client.get("/programs").status_code == 200
        assert server.client.get("/login").status_code == 404
        assert server.client.get("/health").status_code == 404
    finally:
        server.stop()


def test_auth_can_be_switched_on_by_environment(tmp_path):
    root = make_project(tmp_path, MODULES, CONFIG)
    server = start_server(root, env={"DSPY_CLI_AUTH": "true", "DSPY_API_KEY": TOKEN})
    try:
        assert server.client.get("/programs").status_code == 401
        assert server.client.get("/programs", headers=bearer()).status_code == 200
    finally:
        server.stop()
    # --no-auth on the command line wins over the variable.
    (root / "server.stdout").unlink()
    server = start_server(root, "--no-auth", env={"DSPY_CLI_AUTH": "true"})
    try:
        assert server.client.get("/programs").status_code == 200
    finally:
        server.stop()
    result = run_cli("serve", "--system", cwd=root, env={"DSPY_CLI_AUTH": "maybe"})
    assert result.returncode == 2
    assert "Error: DSPY_CLI_AUTH must be true or false, got 'maybe'" in result.stderr
