"""The web UI in a real browser: cards with metrics, generated forms, results, logs, 422s per
field, image upload, custom-path programs, and escaping of user-controlled text."""

from __future__ import annotations

import base64
import json

import pytest
from browser import screenshot
from playwright.sync_api import expect
from web_project import MODULES

PNG_1PX = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
PROGRAMS = ["Ask", "Describe", "Echo", "Kinds", "Loose", "Shout"]


@pytest.fixture
def server(serve):
    return serve(MODULES)


def test_index_shows_every_program_with_its_metrics(server, page):
    assert server.post("/Ask", {"question": "hi"}).status_code == 200
    page.goto(server.url + "/")
    for name in PROGRAMS:
        page.locator(f'.card[data-program="{name}"]').wait_for()
    ask = page.locator('.card[data-program="Ask"]')
    # Metrics come from /api/metrics: one call so far, and the sort (calls, desc) puts it first.
    expect(ask.locator("[data-metric=calls]")).to_have_text("1 calls")
    assert ask.locator("[data-metric=last_call]").inner_text() == "just now"
    assert ask.locator("[data-metric=latency]").inner_text().endswith("ms avg")
    assert page.locator(".card").first.get_attribute("data-program") == "Ask"
    assert "forward function isn't typed" in page.locator('.card[data-program="Loose"]').inner_text()
    assert page.locator("#title").inner_text() == "Test Project"
    screenshot(page, "index")
    page.select_option("#sort-by", "name")
    page.click("#order")  # asc
    expect(page.locator(".card").nth(1)).to_have_attribute("data-program", "Describe")
    assert page.locator(".card").first.get_attribute("data-program") == "Ask"
    assert page.js_errors == []


def test_typed_form_submits_every_field_kind_and_shows_result_and_log(server, page):
    page.goto(server.url + "/ui/Kinds")
    page.fill("#field-question", "hello")
    page.fill("#field-count", "3")
    page.fill("#field-ratio", "0.5")
    page.check("#field-loud")
    assert page.locator("#field-mode").input_value() == '"fast"'  # Literal: first value preselected
    page.select_option("#field-mode", label="slow")
    page.fill("#field-tags", '["a", "b"]')
    page.click("#submit")
    result = page.locator("#result")
    result.wait_for()
    expect(result).to_contain_text("HELLO")
    assert json.loads(result.inner_text()) == {"answer": "HELLO|3|0.5|slow|a,b|None"}
    # The new inference appears in Recent Inferences and the metrics panel counts it.
    page.locator("#logs .log-entry.ok").wait_for()
    assert '"question": "hello"' in page.locator("#logs").inner_text()
    expect(page.locator("[data-stat=calls] .value")).to_have_text("1")
    screenshot(page, "kinds-result")
    entry = json.loads(server.log_lines("Kinds")[-1])
    assert entry["inputs"] == {
        "question": "hello",
        "count": 3,
        "ratio": 0.5,
        "loud": True,
        "mode": "slow",
        "tags": ["a", "b"],
        "extra": None,
    }
    assert page.js_errors == []


def test_validation_errors_are_shown_next_to_each_field(server, page):
    page.goto(server.url + "/ui/Kinds")
    # Client-side: required fields left empty, invalid JSON.
    page.fill("#field-tags", "[not json")
    page.click("#submit")
    assert page.locator('[data-error-for="question"]').inner_text() == "Field required"
    assert page.locator('[data-error-for="tags"]').inner_text().startswith("Invalid JSON")
    # Server-side: the 422's detail[].loc names the fields.
    page.fill("#field-question", "q")
    page.fill("#field-count", "three")
    page.fill("#field-ratio", "1")
    page.fill("#field-tags", '{"not": "a list"}')
    page.click("#submit")
    page.locator("#error").wait_for()
    expect(page.locator('[data-error-for="count"]')).to_contain_text("valid integer")
    assert "valid integer" in page.locator('[data-error-for="count"]').inner_text()
    assert "valid list" in page.locator('[data-error-for="tags"]').inner_text()
    assert page.locator('[data-error-for="question"]').is_hidden()
    assert "HTTP 422" in page.locator("#error").inner_text()
    screenshot(page, "kinds-422")
    assert server.log_lines("Kinds") == []


def test_image_upload_is_sent_as_a_data_uri(server, page, tmp_path):
    image = tmp_path / "pixel.png"
    image.write_bytes(base64.b64decode(PNG_1PX))
    page.goto(server.url + "/ui/Describe")
    page.get_by_role("button", name="Upload").click()
    page.set_input_files("[data-image-file]", str(image))
    page.locator(".preview:not([hidden])").wait_for()
    page.click("#submit")
    expect(page.locator("#result")).to_contain_text("kind")
    assert json.loads(page.locator("#result").inner_text()) == {
        "kind": "Image",
        "is_data_uri": True,
        "prefix": "data:image/png;base64,",
    }
    screenshot(page, "describe-upload")
    # The log keeps the saved image's path, not the data URI.
    assert json.loads(server.log_lines("Describe")[-1])["inputs"]["image"].startswith("img/Describe_")


def test_custom_path_program_posts_to_its_real_route(server, page):
    page.goto(server.url + "/ui/Shout")
    page.locator("#route").wait_for()
    expect(page.locator("#route")).to_have_text("POST /api/v2/shout")
    page.fill("#field-text", "hey")
    page.click("#submit")
    expect(page.locator("#result")).to_contain_text("HEY!")
    assert json.loads(page.locator("#result").inner_text()) == {"shout": "HEY!"}
    page.locator("#logs .log-entry.ok").wait_for()


def test_untyped_program_page_explains_instead_of_a_form(server, page):
    page.goto(server.url + "/ui/Loose")
    page.get_by_text("Module Not Properly Typed").wait_for()
    assert page.locator("#program-form").count() == 0


def test_program_output_with_markup_renders_as_text(server, page):
    payload = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
    page.goto(server.url + "/ui/Echo")
    page.fill("#field-text", payload)
    page.click("#submit")
    expect(page.locator("#result")).to_contain_text("echo")
    assert json.loads(page.locator("#result").inner_text()) == {"echo": payload}
    page.locator("#logs .log-entry").wait_for()
    assert json.dumps(payload) in page.locator("#logs").inner_text()  # shown as JSON text
    assert page.evaluate("window.__xss") is None
    assert page.locator("#result script, #logs script, #result img, #logs img").count() == 0
    screenshot(page, "echo-xss")


def test_program_name_in_the_path_is_text_and_unknown_is_404(server, page):
    response = page.goto(server.url + "/ui/%3Cscript%3Ewindow.__xss=1%3C%2Fscript%3E")
    assert response.status == 404
    assert response.headers["content-type"] == "application/json"
    assert json.loads(page.locator("body").inner_text()) == {
        "detail": "Program '<script>window.__xss=1</script>' not found"
    }
    assert page.evaluate("window.__xss") is None
    # The same name on the index path is just a 404 too.
    assert server.client.get("/ui/Nope").json() == {"detail": "Program 'Nope' not found"}


def test_pages_and_assets_have_types_and_cache_headers(server):
    index = server.client.get("/")
    assert index.headers["content-type"] == "text/html; charset=utf-8"
    assert index.headers["cache-control"] == "no-cache"
    assert "script-src 'self'" in index.headers["content-security-policy"]
    script = server.client.get("/static/program.js")
    assert (
        script.headers["content-type"] == "text/javascript; charset=utf-8"
        and "max-age" in script.headers["cache-control"]
    )
    assert server.client.get("/static/style.css").headers["content-type"] == "text/css; charset=utf-8"
    assert server.client.get("/static/nope.js").json() == {"detail": "Not Found"}
    ui = server.client.get("/openapi.json").json()["info"]["x-dspy-ui"]
    assert ui["Shout"]["routes"] == [{"method": "POST", "path": "/api/v2/shout"}]
    kinds = {f["name"]: f["kind"] for f in ui["Kinds"]["inputs"]}
    assert kinds == {
        "question": "text",
        "count": "integer",
        "ratio": "number",
        "loud": "boolean",
        "mode": "select",
        "tags": "json",
        "extra": "json",
    }
    assert ui["Describe"]["inputs"][0]["kind"] == "image"


def test_dark_mode_follows_the_system_and_the_toggle(server, page):
    def background() -> str:
        return page.evaluate("getComputedStyle(document.body).backgroundColor")

    page.emulate_media(color_scheme="light")
    page.goto(server.url + "/")
    page.locator(".card").first.wait_for()
    light = background()
    page.emulate_media(color_scheme="dark")
    expect(page.locator("body")).not_to_have_css("background-color", light)
    dark = background()
    screenshot(page, "index-dark")
    page.click("#theme-toggle")  # overrides the system choice, and is remembered
    expect(page.locator("body")).to_have_css("background-color", light)
    page.reload()
    expect(page.locator("body")).to_have_css("background-color", light)
    assert dark != light
