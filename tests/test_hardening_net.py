"""Hostile and unlucky clients against a real server: slowloris, huge bodies, full queues,
shutdown with stuck clients, running out of file descriptors, odd inputs, bad config numbers,
Ctrl+C in a terminal."""

from __future__ import annotations

import json
import resource
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pexpect
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from serving import DEFAULT_CONFIG, DSPY_CLI, free_port, make_project, run_cli, start_server, wait_until

MODULES = {
    "tools.py": '''
        import os
        import time
        import dspy

        class Echo(dspy.Module):
            def forward(self, text: str) -> dict:
                return {"text": text}

        class Big(dspy.Module):
            def forward(self, size: int) -> dict:
                return {"blob": "x" * size}

        class Slow(dspy.Module):
            def forward(self, seconds: float) -> dict:
                time.sleep(seconds)
                return {"slept": seconds}

        class Anything(dspy.Module):
            def forward(self, data: dict) -> dict:
                return {"keys": len(data)}

        _held = []

        class Descriptors(dspy.Module):
            """Simulates user code that leaks every file descriptor, then gives them back."""
            def forward(self, action: str) -> dict:
                if action == "grab":
                    try:
                        while True:
                            _held.append(os.open("/dev/null", os.O_RDONLY))
                    except OSError:
                        pass
                elif action == "release":
                    while _held:
                        os.close(_held.pop())
                return {"held": len(_held)}
    '''
}


def config(**server: object) -> str:
    lines = "".join(f"  {key}: {value}\n" for key, value in server.items())
    return DEFAULT_CONFIG + ("server:\n" + lines if server else "")


@pytest.fixture
def project(tmp_path, mock_lm):
    made = []

    def factory(**server: object):
        made.append(tmp_path / f"project{len(made)}")
        return make_project(made[-1], MODULES, config(**server).format(api_base=mock_lm.api_base))

    return factory


def connect(server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    return sock


def seconds_until_closed(sock: socket.socket, limit: float = 30) -> tuple[float, bytes]:
    """Read until the server closes the connection; returns (elapsed, everything read)."""
    started, data = time.monotonic(), b""
    sock.settimeout(limit)
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return time.monotonic() - started, data


def metric(server, name: str) -> float:
    families = {f.name: f for f in text_string_to_metric_families(server.client.get("/metrics").text)}
    return families[name].samples[0].value


def post_raw(sock: socket.socket, path: str, body: bytes, extra: str = "") -> None:
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    sock.sendall(head.encode() + body)


def read_log(server, program):
    return [json.loads(line) for line in server.log_lines(program)]


def test_slowloris_clients_are_closed_within_the_configured_timeouts(project):
    server = start_server(
        project(
            keep_alive_timeout_seconds=1,
            header_read_timeout_seconds=2,
            body_read_timeout_seconds=2,
            write_timeout_seconds=2,
        )
    )
    try:
        # A well-behaved client keeps its connection across requests.
        with httpx.Client(base_url=server.url) as client:
            assert [client.post("/Echo", json={"text": t}).json() for t in "ab"] == [{"text": "a"}, {"text": "b"}]
        # Connected, never sends anything: the keep-alive (idle) timeout.
        elapsed, _ = seconds_until_closed(connect(server))
        assert 0.5 < elapsed < 10
        # Half a header, then silence: the header timeout.
        sock = connect(server)
        sock.sendall(b"POST /Echo HTTP/1.1\r\nHost: x\r\n")
        elapsed, _ = seconds_until_closed(sock)
        assert 1.5 < elapsed < 10
        # Headers trickled one byte at a time still have to finish within the header timeout.
        sock = connect(server)
        started = time.monotonic()
        with pytest.raises(OSError):
            for byte in b"POST /Echo HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
                sock.send(bytes([byte]))
                time.sleep(0.2)
        assert time.monotonic() - started < 12
        # Full headers, part of the body, then silence: JSON 408 at the body timeout.
        sock = connect(server)
        sock.sendall(
            b'POST /Echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"te'
        )
        elapsed, data = seconds_until_closed(sock)
        assert 1.5 < elapsed < 10
        assert data.startswith(b"HTTP/1.1 408") and b"application/json" in data
        assert b"server.body_read_timeout_seconds" in data
        # A response the client never reads: the write timeout closes it.
        timed_out_before = metric(server, "dspy_connections_timed_out")
        size = 20 * 1024 * 1024
        sock = connect(server)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        post_raw(sock, "/Big", json.dumps({"size": size}).encode())
        time.sleep(8)  # the write stalls; after 2 s the server gives up
        _, data = seconds_until_closed(sock)
        assert data.startswith(b"HTTP/1.1 200") and len(data) < size
        assert metric(server, "dspy_connections_timed_out") > timed_out_before
        assert metric(server, "dspy_open_connections") == 1  # only the /metrics scrape itself
        assert server.client.get("/health/ready").status_code == 200
    finally:
        assert server.stop() == 0


def test_sigterm_with_stuck_clients_exits_0_within_the_deadline(project):
    # Timeouts far away: only the shutdown deadline can end these connections.
    server = start_server(
        project(
            keep_alive_timeout_seconds=300,
            header_read_timeout_seconds=300,
            body_read_timeout_seconds=300,
            write_timeout_seconds=300,
        ),
        "--shutdown-timeout",
        "2",
    )
    half_header = connect(server)
    half_header.sendall(b"POST /Echo HTTP/1.1\r\nHost: x\r\n")
    slow_body = connect(server)
    slow_body.sendall(b"POST /Echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    unread = connect(server)
    unread.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    post_raw(unread, "/Big", json.dumps({"size": 20 * 1024 * 1024}).encode())
    stuck = connect(server)
    post_raw(stuck, "/Slow", b'{"seconds": 60}')
    time.sleep(1)
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    code = server.process.wait(30)
    elapsed = time.monotonic() - started
    assert code == 0
    # Measured: 503 at 2.0 s, then 0.25 s grace, 0.5 s engine stop, ~0.3 s Python exit.
    assert elapsed < 2 + 2, f"exit took {elapsed:.1f}s (deadline 2 s, allowed deadline + 2 s)"
    for sock in (half_header, slow_body, unread):
        seconds_until_closed(sock, 5)
    _, answer = seconds_until_closed(stuck, 5)
    assert answer.startswith(b"HTTP/1.1 503") and b"shutting down" in answer
    [line] = read_log(server, "Slow")
    assert line["success"] is False and line["error"].startswith("Cut off by shutdown")
    assert line["inputs"] == {"seconds": 60}
    assert "Server stopped" in server.stdout()
    assert "Traceback" not in server.stderr()


def test_connections_past_the_limit_wait_for_a_free_one(project):
    server = start_server(project(max_connections=2, keep_alive_timeout_seconds=60))
    try:
        first, second = connect(server), connect(server)
        time.sleep(0.5)
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(httpx.post, f"{server.url}/Echo", json={"text": "third"}, timeout=60)
            time.sleep(1.5)
            assert not waiting.done()  # not refused: it waits in the listen backlog
            first.close()
            assert waiting.result().json() == {"text": "third"}
        second.close()
    finally:
        server.stop()


def test_oversized_bodies_get_json_413_before_being_read(project):
    server = start_server(project())  # default limit: 16 MiB
    try:
        sock = connect(server)
        started = time.monotonic()
        sock.sendall(
            b"POST /Echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 314572800\r\n\r\n"
        )
        elapsed, data = seconds_until_closed(sock)
        assert time.monotonic() - started < 1 + 1  # answered without reading 300 MiB
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413") and b"application/json" in head
        assert json.loads(body) == {
            "detail": "Request body too large: the limit is 16777216 bytes (server.max_body_bytes)."
        }
        assert elapsed < 2
    finally:
        server.stop()
    small = start_server(project(max_body_bytes=1024))
    try:
        # Chunked, no Content-Length: cut off once past the limit.
        def chunks():
            yield b'{"text": "'
            for _ in range(100):
                yield b"x" * 100

        response = httpx.post(f"{small.url}/Echo", content=chunks(), headers={"content-type": "application/json"})
        assert response.status_code == 413 and "1024 bytes" in response.json()["detail"]
        assert small.post("/Echo", {"text": "x" * 900}).status_code == 200
        assert small.log_lines("Echo") and len(small.log_lines("Echo")) == 1
    finally:
        small.stop()


def test_a_full_queue_answers_429_at_once(project):
    server = start_server(project(max_concurrent_per_program=1, max_queued_per_program=1, queue_timeout_seconds=60))
    try:
        with ThreadPoolExecutor(2) as pool:
            running = pool.submit(server.post, "/Slow", {"seconds": 3})
            time.sleep(0.5)
            queued = pool.submit(httpx.post, f"{server.url}/Slow", json={"seconds": 0}, timeout=60)
            time.sleep(0.5)
            started = time.monotonic()
            rejected = httpx.post(f"{server.url}/Slow", json={"seconds": 0}, timeout=60)
            assert time.monotonic() - started < 1.5
            assert rejected.status_code == 429 and int(rejected.headers["retry-after"]) >= 1
            assert rejected.json() == {"detail": "Too many concurrent requests for 'Slow'. Try again later."}
            assert running.result().status_code == 200 and queued.result().status_code == 200
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            "max_concurrent_per_program: 0",
            "'server.max_concurrent_per_program' must be a whole number from 1 to 1000000, got 0",
        ),
        ("max_concurrent_per_program: 1e20", "'server.max_concurrent_per_program' must be a whole number"),
        ("max_connections: 0", "'server.max_connections' must be a whole number from 1"),
        ("max_body_bytes: -5", "'server.max_body_bytes' must be a whole number"),
        ("max_header_bytes: 100", "'server.max_header_bytes' must be a whole number from 8192"),
        ("sync_worker_threads: 0", "'server.sync_worker_threads' must be a whole number from 1 to 200"),
        ("runtime_threads: 0", "'server.runtime_threads' must be a whole number from 1 to 64"),
        (
            "queue_timeout_seconds: 1e20",
            "'server.queue_timeout_seconds' must be a number of seconds above 0 and at most 86400",
        ),
        ("keep_alive_timeout_seconds: 0", "'server.keep_alive_timeout_seconds' must be a number of seconds"),
        ("write_timeout_seconds: fast", "'server.write_timeout_seconds' must be a number of seconds"),
    ],
)
def test_config_numbers_are_range_checked_at_start_up(tmp_path, setting, message):
    make_project(tmp_path, MODULES, DEFAULT_CONFIG.format(api_base="http://127.0.0.1:9/v1") + f"server:\n  {setting}\n")
    result = run_cli("serve", "--system", "--port", "1", cwd=tmp_path)
    assert result.returncode == 1
    assert f"Configuration error: Invalid configuration: {message}" in result.stdout
    assert "panicked" not in result.stderr and "Traceback" not in result.stderr


def test_shutdown_timeout_flag_is_range_checked(tmp_path):
    result = run_cli("serve", "--system", "--shutdown-timeout", "1e20", cwd=tmp_path)
    assert result.returncode == 2
    assert "Invalid value for '--shutdown-timeout': 1e20 is not in the range 0<=x<=86400." in result.stderr


def test_a_504_is_logged_as_a_timeout_error_once(project):
    server = start_server(project(request_timeout_seconds=0.5))
    try:
        response = server.post("/Slow", {"seconds": 2})
        assert response.status_code == 504
        [line] = read_log(server, "Slow")  # written before the 504 was sent
        assert line["success"] is False and line["error"].startswith("Timeout: Program 'Slow' did not finish")
        assert line["inputs"] == {"seconds": 2}
        time.sleep(2.5)  # the job finishes in the background: its own line is dropped
        assert len(read_log(server, "Slow")) == 1
        assert metric(server, "dspy_log_lines_written") == 1
    finally:
        server.stop()


def strict_json(line: str):
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(line, parse_constant=refuse)


def test_nan_infinity_and_deep_nesting_keep_log_lines_valid_json(project):
    server = start_server(project())
    try:
        post = lambda body: server.client.post("/Anything", content=body, headers={"content-type": "application/json"})  # noqa: E731
        assert post(b'{"data": {"x": NaN, "y": Infinity, "z": -Infinity}}').status_code == 200
        deep = b'{"data": {"d": ' + b"[" * 150 + b"]" * 150 + b"}}"
        assert post(deep).status_code == 200
        too_deep = b'{"data": {"d": ' + b"[" * 5000 + b"]" * 5000 + b"}}"
        response = post(too_deep)
        assert response.headers["content-type"] == "application/json"
        assert (response.status_code, response.json()) == (400, {"detail": "There was an error parsing the body"})
        lines = [strict_json(line) for line in server.log_lines("Anything")]
        assert len(lines) == 2
        assert lines[0]["inputs"] == {"data": {"x": "NaN", "y": "Infinity", "z": "-Infinity"}}
        assert all(isinstance(line["inputs"], dict) for line in lines)
        assert server.client.get("/api/metrics/Anything").json()["metrics"]["call_count"] == 2
    finally:
        server.stop()


def restore_default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


def test_out_of_file_descriptors_new_connections_wait_and_nothing_is_lost(project):
    server = start_server(project(), preexec_fn=low_fd_limit)
    try:
        assert "open-file limit (256)" in server.stderr()
        with httpx.Client(base_url=server.url, timeout=60) as keep_alive:
            assert keep_alive.post("/Descriptors", json={"action": "none"}).json() == {"held": 0}
            grabbed = keep_alive.post("/Descriptors", json={"action": "grab"})
            assert grabbed.status_code == 200 and grabbed.json()["held"] > 0
            # A new connection cannot be accepted now: it waits instead of failing.
            with ThreadPoolExecutor(1) as pool:
                waiting = pool.submit(httpx.post, f"{server.url}/Echo", json={"text": "patient"}, timeout=60)
                time.sleep(1.5)
                assert not waiting.done()
                assert keep_alive.post("/Descriptors", json={"action": "release"}).json() == {"held": 0}
                assert waiting.result().json() == {"text": "patient"}
            families = {f.name: f for f in text_string_to_metric_families(keep_alive.get("/metrics").text)}
            assert families["dspy_accept_fd_exhausted"].samples[0].value > 0
        assert "Out of file descriptors" in server.stderr()
        # Every acknowledged request has its line.
        assert len(server.log_lines("Descriptors")) == 3 and len(server.log_lines("Echo")) == 1
    finally:
        server.stop()


def test_sigkill_under_load_then_restart_loses_no_acknowledged_line(project):
    root = project()
    server = start_server(root)
    acknowledged = []
    stop = threading.Event()

    def client(i):
        with httpx.Client(base_url=server.url, timeout=10) as c:
            while not stop.is_set():
                try:
                    if c.post("/Echo", json={"text": f"c{i}"}).status_code == 200:
                        acknowledged.append(i)
                except httpx.HTTPError:
                    return

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(2)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(10)
    stop.set()
    for thread in threads:
        thread.join(30)
    lines = [strict_json(line) for line in server.log_lines("Echo")]
    assert acknowledged and len(lines) >= len(acknowledged)
    restarted = start_server(root)
    try:
        assert restarted.client.get("/api/metrics/Echo").json()["metrics"]["call_count"] == len(lines)
        assert restarted.post("/Echo", {"text": "after"}).status_code == 200
        assert len(restarted.log_lines("Echo")) == len(lines) + 1
    finally:
        restarted.stop()


def test_ctrl_c_in_a_terminal_stops_quietly(project):
    root = project()
    port = str(free_port())
    # Started with SIGINT ignored (background runs, CI), the child would ignore Ctrl+C too.
    child = pexpect.spawn(
        DSPY_CLI,
        ["serve", "--system", "--mock-lm", "--port", port, "--host", "127.0.0.1", "--no-save-openapi"],
        cwd=str(root),
        encoding="utf-8",
        timeout=90,
        preexec_fn=restore_default_sigint,
    )
    try:
        assert wait_until(lambda: _ready(port), 90)
        assert httpx.post(f"http://127.0.0.1:{port}/Echo", json={"text": "hi"}).status_code == 200
        child.sendintr()
        child.expect(pexpect.EOF, timeout=60)
    finally:
        child.close(force=True)
    output = child.before
    assert child.exitstatus == 0, output
    assert "Server stopped" in output
    for bad in ("Traceback", "KeyboardInterrupt", "Exception ignored", " ERROR ", "error:"):
        assert bad not in output, f"{bad!r} in:\n{output}"


def _ready(port: str) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_make_demo_stopped_with_ctrl_c_prints_no_error_line():
    # The recipe execs the server, so make's only child ends cleanly and make adds no
    # "make: *** [demo] Interrupt" line. `-o build-release`: the test run already built it.
    repo, port = Path(__file__).resolve().parent.parent, str(free_port())
    child = pexpect.spawn(
        "make",
        ["-s", "-o", "build-release", "demo", f"PORT={port}"],
        cwd=str(repo),
        encoding="utf-8",
        timeout=90,
        preexec_fn=restore_default_sigint,
    )
    try:
        assert wait_until(lambda: _ready(port), 90), child.before
        child.sendintr()
        child.expect(pexpect.EOF, timeout=60)
    finally:
        child.close(force=True)
    output = child.before
    assert "Server stopped" in output, output
    for bad in ("Traceback", "KeyboardInterrupt", "Exception ignored", " ERROR ", "Interrupt\r", "make: ***"):
        assert bad not in output, f"{bad!r} in:\n{output}"
