"""CORS against a real server (reference server.md §12): wildcard, listed and disallowed origins,
preflight and simple requests, with and without `--auth` (preflights are answered before auth)."""

from __future__ import annotations

import os
import subprocess

import httpx
import pytest
from serving import DEFAULT_CONFIG, DSPY_CLI, make_project, start_server

TOKEN = "cors-token-0123456789abcdef"  # noqa: S105 - the test server's API key
ALLOWED = "https://app.example.com"
OTHER = "https://evil.example.net"

MODULES = {
    "echo.py": """
        import dspy

        class Echo(dspy.Module):
            def forward(self, text: str) -> dict:
                return {"echo": text}
    """,
}

BASE = DEFAULT_CONFIG.format(api_base="http://127.0.0.1:9/v1")


def preflight(
    server, origin: str, method: str = "POST", headers: str | None = "content-type,authorization"
) -> httpx.Response:
    request_headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers is not None:
        request_headers["Access-Control-Request-Headers"] = headers
    return server.client.options("/Echo", headers=request_headers)


@pytest.fixture(scope="module", params=["no-auth", "auth"])
def wildcard(request, tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("cors-any"), MODULES, BASE + '\nserver:\n  cors_origins: "*"\n')
    args = ("--auth",) if request.param == "auth" else ()
    server = start_server(root, *args, env={"DSPY_API_KEY": TOKEN})
    server.auth = request.param == "auth"
    yield server
    server.stop()


@pytest.fixture(scope="module", params=["no-auth", "auth"])
def listed(request, tmp_path_factory):
    # The environment variable wins over the config (which would allow everything).
    root = make_project(tmp_path_factory.mktemp("cors-list"), MODULES, BASE + '\nserver:\n  cors_origins: "*"\n')
    args = ("--auth",) if request.param == "auth" else ()
    server = start_server(
        root, *args, env={"DSPY_API_KEY": TOKEN, "DSPY_CORS_ORIGINS": f" {ALLOWED} , http://localhost:3000"}
    )
    server.auth = request.param == "auth"
    yield server
    server.stop()


def credentials(server) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"} if server.auth else {}


def test_wildcard_preflight(wildcard):
    response = preflight(wildcard, OTHER)
    assert response.status_code == 200 and response.text == "OK"
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-methods"] == "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
    assert response.headers["access-control-max-age"] == "600"
    assert response.headers["access-control-allow-headers"] == "content-type,authorization"
    assert "access-control-allow-credentials" not in response.headers
    assert "CORS: * (any origin, no credentials)" in wildcard.stdout()


def test_wildcard_simple_requests(wildcard):
    response = wildcard.post("/Echo", {"text": "a"}, headers={"Origin": OTHER, **credentials(wildcard)})
    assert response.status_code == 200 and response.json() == {"echo": "a"}
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers
    # No Origin: not a CORS request, no CORS headers.
    assert (
        "access-control-allow-origin"
        not in wildcard.post("/Echo", {"text": "a"}, headers=credentials(wildcard)).headers
    )


def test_preflight_of_an_unknown_method_is_refused(wildcard):
    response = preflight(wildcard, OTHER, method="TRACE")
    assert response.status_code == 400 and response.text == "Disallowed CORS method"


def test_listed_origin_preflight_and_simple_request(listed):
    response = preflight(listed, ALLOWED)
    assert response.status_code == 200 and response.text == "OK"
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["vary"] == "Origin"
    simple = listed.post("/Echo", {"text": "b"}, headers={"Origin": ALLOWED, **credentials(listed)})
    assert simple.json() == {"echo": "b"}
    assert simple.headers["access-control-allow-origin"] == ALLOWED
    assert simple.headers["access-control-allow-credentials"] == "true"
    assert "CORS: https://app.example.com, http://localhost:3000 (with credentials)" in listed.stdout()


def test_disallowed_origin(listed):
    response = preflight(listed, OTHER)
    assert response.status_code == 400 and response.text == "Disallowed CORS origin"
    assert "access-control-allow-origin" not in response.headers
    simple = listed.post("/Echo", {"text": "c"}, headers={"Origin": OTHER, **credentials(listed)})
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers


def test_auth_refusals_carry_cors_headers(listed):
    if not listed.auth:
        pytest.skip("only with --auth")
    # A preflight carries no credentials; it is answered before auth (upstream: a 303).
    assert preflight(listed, ALLOWED, headers=None).status_code == 200
    refused = listed.post("/Echo", {"text": "d"}, headers={"Origin": ALLOWED})
    assert refused.status_code == 401
    # The browser app can read the 401 and show a login prompt.
    assert refused.headers["access-control-allow-origin"] == ALLOWED


def test_no_cors_when_unset_or_empty(tmp_path):
    root = make_project(tmp_path, MODULES, BASE + '\nserver:\n  cors_origins: "*"\n')
    # DSPY_CORS_ORIGINS set but empty wins over the config: CORS off.
    server = start_server(root, env={"DSPY_CORS_ORIGINS": ""})
    try:
        response = server.post("/Echo", {"text": "e"}, headers={"Origin": OTHER})
        assert "access-control-allow-origin" not in response.headers
        # Without CORS, an OPTIONS request is just a request: 405, no CORS headers.
        assert preflight(server, OTHER).status_code == 405
        assert "CORS: off" in server.stdout()
    finally:
        server.stop()


def test_a_malformed_cors_setting_is_a_configuration_error(tmp_path):
    root = make_project(tmp_path, MODULES, BASE + "\nserver:\n  cors_origins: [1, 2]\n")
    env = {k: v for k, v in os.environ.items() if k != "DSPY_CORS_ORIGINS"}
    result = subprocess.run(
        [DSPY_CLI, "serve", "--system"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert result.returncode == 1
    assert (
        "Configuration error: Invalid configuration: 'server.cors_origins' must list origins as strings, got 1"
        in result.stdout
    )
