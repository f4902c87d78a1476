"""/docs (Swagger UI) and /redoc in a real browser, offline: our /openapi.json rendered from
the vendored bundles, and Swagger's "Try it out" calling one of our program routes."""

from __future__ import annotations

import json

import pytest
from browser import screenshot
from playwright.sync_api import expect
from web_project import MODULES


@pytest.fixture
def server(serve):
    return serve(MODULES)


def offline(page, server) -> list[str]:
    """Refuse every request that leaves our server, and return the list of attempts."""
    outside: list[str] = []

    def route(r):
        if r.request.url.startswith(server.url):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return outside


def test_swagger_ui_renders_and_try_it_out_runs_a_program(server, page):
    outside = offline(page, server)
    page.goto(server.url + "/docs")
    operation = page.locator("#operations-default-run_program_Echo_post")
    operation.wait_for()
    expect(page.locator(".info .title")).to_contain_text("test-project")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.locator("textarea.body-param__text").fill('{"text": "from swagger"}')
    operation.get_by_role("button", name="Execute").click()
    body = operation.locator(".live-responses-table .response-col_description pre").first
    expect(body).to_contain_text("from swagger")
    assert json.loads(body.inner_text()) == {"echo": "from swagger"}
    screenshot(page, "swagger-try-it-out")
    assert json.loads(server.log_lines("Echo")[-1])["inputs"] == {"text": "from swagger"}
    assert outside == []
    assert page.js_errors == []


def test_redoc_renders_our_spec(server, page):
    outside = offline(page, server)
    page.goto(server.url + "/redoc")
    expect(page.locator("h1").first).to_contain_text("test-project")
    expect(page.get_by_text("/api/v2/shout").first).to_be_attached()
    screenshot(page, "redoc")
    assert outside == []
    assert page.js_errors == []


def test_docs_assets_are_served_with_types_licences_and_cache_headers(server):
    docs = server.client.get("/docs")
    assert docs.status_code == 200 and docs.headers["content-type"] == "text/html; charset=utf-8"
    assert "/static/vendor/swagger-ui-bundle.js" in docs.text
    bundle = server.client.get("/static/vendor/swagger-ui-bundle.js")
    assert bundle.headers["content-type"] == "text/javascript; charset=utf-8"
    assert bundle.headers["cache-control"] == "public, max-age=86400"
    assert server.client.get("/static/vendor/swagger-ui.css").headers["content-type"] == "text/css; charset=utf-8"
    assert "Apache License" in server.client.get("/static/vendor/LICENSE-swagger-ui.txt").text
    assert "MIT" in server.client.get("/static/vendor/LICENSE-redoc.txt").text
    assert server.client.get("/redoc").status_code == 200
