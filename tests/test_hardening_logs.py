"""Hardening of logs, metrics and what reaches clients (issue 9, data side), on real servers.

Bounded /api/logs on a huge file, torn-line repair, rotation, image caps, redaction of
credentials, request ids, server.expose_errors, placeholder errors and offline --mock-lm.
"""

from __future__ import annotations

import base64
import json
import re
import textwrap
import threading
import time
from pathlib import Path

import httpx
from serving import DEFAULT_CONFIG, free_port, make_project, run_cli, start_server

ECHO = {
    "echo.py": """
        import dspy

        class Echo(dspy.Module):
            def forward(self, text: str) -> dict:
                return {"echo": text}
    """,
}

BOOM = {
    "boom.py": """
        import dspy

        class Boom(dspy.Module):
            def forward(self, text: str) -> dict:
                raise ValueError("internal detail " + text)
    """,
}

IMAGE = {
    "describe.py": """
        import dspy

        class Describe(dspy.Module):
            def forward(self, image: dspy.Image) -> dict:
                return {"ok": True}
    """,
}

ASK = {
    "ask.py": """
        import dspy

        class Ask(dspy.Module):
            def __init__(self):
                super().__init__()
                self.predict = dspy.Predict("question -> answer")

            def forward(self, question: str) -> dict:
                return {"answer": self.predict(question=question).answer}
    """,
}

HEX_ID = re.compile(r"^[0-9a-f]{32}$")


def entries(server, program: str) -> list[dict]:
    return [json.loads(line) for line in server.log_lines(program)]


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE).group(1))


def test_api_logs_limit_0_on_a_300_mb_log_stays_in_bounded_memory(serve):
    server = serve(ECHO)
    assert server.post("/Echo", {"text": "warm"}).status_code == 200
    # ~300 MB of valid lines, written while the server runs (so start-up does not seed them).
    line = json.dumps(
        {
            "timestamp": "2026-01-01T00:00:00+00:00",
            "program": "Echo",
            "model": "m",
            "duration_ms": 1.5,
            "inputs": {"text": "x" * 200},
            "outputs": {},
            "success": True,
        }
    )
    block = (line + "\n") * 10_000
    with (server.logs / "Echo.log").open("a") as handle:
        while handle.tell() < 300 * 1024 * 1024:
            handle.write(block)
    before = rss_kib(server.process.pid)
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(server.process.pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    results: list[httpx.Response] = []
    try:
        # Three at once: the cap holds for each.
        readers = [
            threading.Thread(target=lambda: results.append(server.client.get("/api/logs/Echo?limit=0")))
            for _ in range(3)
        ]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join(120)
    finally:
        done.set()
        sampler.join()
    assert [r.status_code for r in results] == [200, 200, 200]
    body = results[0].json()
    assert body["count"] == len(body["logs"]) == 1000  # the documented cap
    assert server.client.get("/api/logs/Echo?limit=5000").json()["count"] == 1000
    assert server.client.get("/api/logs/Echo?limit=-1").json()["count"] == 1000
    assert server.client.get("/api/logs/Echo?limit=3").json()["count"] == 3
    (server.logs / "Echo.log").unlink()  # do not leave 300 MB behind in pytest's kept temp dirs
    growth_mib = (peak[0] - before) / 1024
    print(f"RSS growth during 3 x limit=0 on a 300 MB log: {growth_mib:.1f} MiB")
    assert growth_mib < 64, f"RSS grew by {growth_mib:.1f} MiB"


def test_a_torn_last_line_is_repaired_and_skipped_with_a_warning(tmp_path, mock_lm):
    root = make_project(tmp_path / "p", ECHO, DEFAULT_CONFIG.format(api_base=mock_lm.api_base))
    (root / "logs").mkdir()
    good = json.dumps(
        {
            "timestamp": "2026-01-01T00:00:00+00:00",
            "program": "Echo",
            "model": "m",
            "duration_ms": 2.0,
            "inputs": {"text": "old"},
            "outputs": {},
            "success": True,
        }
    )
    # As a SIGKILL mid-write leaves it: the last line has no end.
    (root / "logs" / "Echo.log").write_text(good + "\n" + good[:40])
    server = start_server(root)
    try:
        assert server.post("/Echo", {"text": "new"}).status_code == 200
        lines = server.log_lines("Echo")
        assert lines[:2] == [good, good[:40]]
        assert json.loads(lines[2])["inputs"] == {"text": "new"}  # on its own line, parsable
        logs = server.client.get("/api/logs/Echo?limit=10").json()
        assert [e["inputs"]["text"] for e in logs["logs"]] == ["new", "old"]
        assert server.client.get("/api/metrics/Echo").json()["metrics"]["call_count"] == 2
    finally:
        server.stop()
    stderr = server.stderr()
    assert "the last line was cut short" in stderr
    assert "skipped 1 unparsable line(s)" in stderr


ROTATING = (
    DEFAULT_CONFIG
    + """
server:
  log_max_bytes: 4096
  log_backups: 2
"""
)


def test_logs_rotate_by_size_and_api_logs_and_metrics_span_the_rotation(tmp_path, mock_lm):
    root = make_project(tmp_path / "p", ECHO, ROTATING.format(api_base=mock_lm.api_base))
    server = start_server(root)
    try:
        for i in range(60):
            assert server.post("/Echo", {"text": f"n{i:03}" + "x" * 100}).status_code == 200
        assert "log rotation: at 4096 bytes, 2 backups kept" in server.stdout()
    finally:
        server.stop()
    logs = root / "logs"
    files = [logs / "Echo.log", logs / "Echo.log.1", logs / "Echo.log.2"]
    assert all(f.exists() and 0 < f.stat().st_size <= 4096 for f in files)
    assert not (logs / "Echo.log.3").exists()
    kept = [json.loads(line)["inputs"]["text"][:4] for f in reversed(files) for line in f.read_text().splitlines()]
    assert kept == [f"n{i:03}" for i in range(60 - len(kept), 60)]  # the newest, in order, none torn
    restarted = start_server(root)
    try:
        body = restarted.client.get("/api/logs/Echo?limit=0").json()
        assert [e["inputs"]["text"][:4] for e in body["logs"]] == kept[::-1]
        assert restarted.client.get("/api/metrics/Echo").json()["metrics"]["call_count"] == len(kept)
    finally:
        restarted.stop()


IMAGE_CAPS = (
    DEFAULT_CONFIG
    + """
server:
  log_image_max_bytes: 1000
  log_images_max_total_bytes: 2500
"""
)


def test_saved_images_are_capped_per_image_and_in_total(tmp_path, mock_lm):
    root = make_project(tmp_path / "p", IMAGE, IMAGE_CAPS.format(api_base=mock_lm.api_base))
    server = start_server(root)
    small = base64.b64encode(b"\x89PNG" + b"a" * 796).decode()  # 800 bytes
    big = base64.b64encode(b"\x89PNG" + b"b" * 1196).decode()  # 1200 bytes
    try:
        assert server.post("/Describe", {"image": f"data:image/png;base64,{big}"}).status_code == 200
        for _ in range(4):
            assert server.post("/Describe", {"image": f"data:image/png;base64,{small}"}).status_code == 200
        saved = [e["inputs"]["image"] for e in entries(server, "Describe")]
        prometheus = server.client.get("/metrics").text
    finally:
        server.stop()
    assert saved[0].startswith("data:[image not saved: 1200 bytes, over server.log_image_max_bytes (1000)")
    assert all(s.startswith("img/Describe_") for s in saved[1:4])  # 3 x 800 fits in 2500
    assert saved[4].startswith("data:[image not saved: 800 bytes, over server.log_images_max_total_bytes (2500)")
    assert len(list((root / "logs" / "img").iterdir())) == 3
    assert re.search(r"^dspy_log_images_not_saved 2(\.0)?$", prometheus, re.MULTILINE), prometheus


def test_credentials_in_api_base_never_reach_a_client_a_log_or_stderr(tmp_path):
    # Nothing listens on this port: the LM error quotes the address, credentials included.
    config = DEFAULT_CONFIG.format(api_base=f"http://alice:s3cr3tpw@127.0.0.1:{free_port()}/v1?api_key=k3yk3yk3y")
    root = make_project(tmp_path / "p", ASK, config)
    server = start_server(root)
    try:
        response = server.post("/Ask", {"question": "hi"})
        assert response.status_code == 500
        assert "***@127.0.0.1" in response.json()["detail"]  # still says where it failed
        api_logs = server.client.get("/api/logs/Ask?api_key=zzzsecretzzz").text
        assert "***@127.0.0.1" in api_logs
        places = {"response": response.text, "/api/logs": api_logs, "log file": (root / "logs" / "Ask.log").read_text()}
    finally:
        server.stop()
    places |= {"stderr": server.stderr(), "stdout": server.stdout()}
    for place, text in places.items():
        for secret in ("s3cr3tpw", "k3yk3yk3y", "zzzsecretzzz"):
            assert secret not in text, f"{secret} in {place}"
    assert "api_key=***" in places["stderr"]  # the access log line, redacted


def test_request_ids_round_trip_into_the_log_line_and_the_access_log(serve):
    server = serve(ECHO)
    given = server.post("/Echo", {"text": "a"}, headers={"X-Request-ID": "client-42.a_b:c"})
    assert given.headers["x-request-id"] == "client-42.a_b:c"
    replaced = server.post("/Echo", {"text": "b"}, headers={"X-Request-ID": 'not valid "quoted"'})
    generated = server.post("/Echo", {"text": "c"})
    for response in (replaced, generated):
        assert HEX_ID.match(response.headers["x-request-id"])
    assert replaced.headers["x-request-id"] != generated.headers["x-request-id"]
    assert HEX_ID.match(server.client.get("/health/live").headers["x-request-id"])
    assert HEX_ID.match(server.client.get("/nope").headers["x-request-id"])
    lines = server.log_lines("Echo")
    ids = [given.headers["x-request-id"], replaced.headers["x-request-id"], generated.headers["x-request-id"]]
    for line, request_id in zip(lines, ids, strict=True):
        assert list(json.loads(line))[-1] == "request_id"  # the new trailing field
        assert json.loads(line)["request_id"] == request_id
    server.stop()
    stderr = server.stderr()
    for request_id in ids:
        assert f"request_id={request_id}" in stderr
    assert "not valid" not in stderr


def test_expose_errors_false_answers_a_generic_message_with_the_request_id(tmp_path, mock_lm):
    config = DEFAULT_CONFIG.format(api_base=mock_lm.api_base) + "server:\n  expose_errors: false\n"
    root = make_project(tmp_path / "p", BOOM, config)
    server = start_server(root)
    try:
        response = server.post("/Boom", {"text": "xyz"}, headers={"X-Request-ID": "rid-7"})
        assert response.status_code == 500
        detail = response.json()["detail"]
        assert "rid-7" in detail and "internal detail" not in detail
        assert entries(server, "Boom")[-1]["error"] == "internal detail xyz"  # the log keeps it all
    finally:
        server.stop()
    assert re.search(r"ERROR - request rid-7 to Boom failed with 500: .*internal detail xyz", server.stderr())


def test_default_errors_keep_upstreams_detail(serve):
    server = serve(BOOM)
    response = server.post("/Boom", {"text": "xyz"})
    assert (response.status_code, response.json()) == (500, {"detail": "internal detail xyz"})


def test_malformed_placeholder_error_names_the_key_but_not_the_value(tmp_path, mock_lm):
    config = DEFAULT_CONFIG.format(api_base=mock_lm.api_base).replace(
        "api_key: test-key", 'api_key: "sk-live-abc123 ${{ NOT_ENV }}"', 1
    )
    root = make_project(tmp_path / "p", ECHO, config)
    result = run_cli("serve", "--system", "--port", str(free_port()), cwd=root)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Malformed placeholder in the value of 'models.registry.alpha.api_key'" in output
    assert "sk-live-abc123" not in output


AUDIT_HOOK = """
import socket, sys

_LOCAL = ("127.0.0.1", "localhost", "::1", "0.0.0.0")

def _audit(event, args):
    if event in ("socket.connect", "socket.getaddrinfo"):
        target = args[1] if event == "socket.connect" else args
        host = target[0] if isinstance(target, tuple) and target else target
        if isinstance(host, bytes):
            host = host.decode()
        if isinstance(host, str) and host not in _LOCAL and not host.startswith("/"):
            with open(REPORT, "a") as report:
                report.write(f"{event} {host}\\n")

sys.addaudithook(_audit)
"""


def test_mock_lm_makes_no_outbound_connection_attempts(tmp_path):
    root = make_project(tmp_path / "p", ASK, DEFAULT_CONFIG.format(api_base="http://127.0.0.1:9/v1"))
    hook_dir, report = tmp_path / "hook", tmp_path / "outbound.txt"
    hook_dir.mkdir()
    (hook_dir / "sitecustomize.py").write_text(f"REPORT = {str(report)!r}\n" + textwrap.dedent(AUDIT_HOOK))
    # Even against an environment asking for the downloads, --mock-lm stays offline.
    env = {"PYTHONPATH": str(hook_dir), "LITELLM_LOCAL_MODEL_COST_MAP": "False", "LITELLM_OFFLINE_MODE": "false"}
    server = start_server(root, "--mock-lm", env=env)
    try:
        response = server.post("/Ask", {"question": "hi"})
        assert response.status_code == 200, response.text
        assert entries(server, "Ask")[-1]["success"] is True
    finally:
        server.stop()
    assert not report.exists(), report.read_text()
    assert "refresh failed" not in server.stderr()


def test_openapi_module_path_is_the_dotted_module_name(serve):
    server = serve(ECHO)
    programs = server.client.get("/openapi.json").json()["info"]["x-dspy-programs"]
    assert programs == [{"name": "Echo", "module_path": "testpkg.modules.echo", "is_forward_typed": True}]
