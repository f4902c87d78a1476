"""`--mock-lm` is offline: the server process attempts no connection and no DNS lookup beyond
loopback (issue #9, point 9). Watched from inside the child with a Python audit hook, so it
covers DSPy, LiteLLM and user code (the Rust side only talks to its own loopback mock)."""

from __future__ import annotations

import json
import textwrap

from serving import DEFAULT_CONFIG, make_project, start_server

MODULES = {
    "qa.py": """
        import dspy

        class Ask(dspy.Module):
            def __init__(self):
                super().__init__()
                self.predict = dspy.Predict("question -> answer")

            def forward(self, question: str):
                return self.predict(question=question)
    """
}

# Loaded by the child's interpreter at start-up (PYTHONPATH): records every socket connect or
# name lookup whose target is not loopback, before it happens.
AUDIT_HOOK = """
import ipaddress, json, os, sys

_out = os.environ["DSPY_TEST_NET_AUDIT"]
_LOCAL_NAMES = {"localhost", "localhost.localdomain", ""}

def _local(host):
    if host is None:
        return True
    host = host.decode() if isinstance(host, bytes) else str(host)
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False

def _hook(event, args):
    if event == "socket.connect":
        address = args[1]
        host = address[0] if isinstance(address, tuple) else None  # AF_UNIX paths are local
    elif event == "socket.getaddrinfo":
        host = args[0]
    else:
        return
    if not _local(host):
        with open(_out, "a") as f:
            f.write(json.dumps([event, repr(host)]) + "\\n")

sys.addaudithook(_hook)
open(_out + ".loaded", "w").close()  # proves the hook ran in the child
"""


def test_mock_lm_makes_no_outbound_connection_attempt(tmp_path):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(textwrap.dedent(AUDIT_HOOK))
    audit = tmp_path / "outbound.jsonl"
    # An unroutable documentation address: --mock-lm must replace it, never try it.
    config = DEFAULT_CONFIG.format(api_base="http://203.0.113.7:9/v1")
    root = make_project(tmp_path / "project", MODULES, config)
    server = start_server(
        root,
        "--mock-lm",
        env={
            "PYTHONPATH": str(hooks),
            "DSPY_TEST_NET_AUDIT": str(audit),
            # A proxy that would be used for any outbound HTTP: also unroutable.
            "HTTPS_PROXY": "http://203.0.113.8:9",
            "HTTP_PROXY": "http://203.0.113.8:9",
            "NO_PROXY": "127.0.0.1,localhost",
        },
    )
    try:
        response = server.post("/Ask", {"question": "What is 2+2?"})
        assert response.status_code == 200, response.text
        assert "answer" in response.json()
    finally:
        assert server.stop() == 0
    assert (tmp_path / "outbound.jsonl.loaded").exists(), "the audit hook did not load in the server"
    # Nothing but loopback was attempted.
    attempts = audit.read_text().splitlines() if audit.exists() else []
    assert attempts == [], f"outbound attempts: {[json.loads(a) for a in attempts]}"
    stderr = server.stderr()
    assert "Traceback" not in stderr
    for warning in ("Failed to fetch remote model cost map", "refresh"):
        assert warning not in stderr, stderr
