"""A project made by `dspy-cli new` starts with the command line of its generated Dockerfile
(`--auth` included): the CMD is parsed, run with our binary on a free port, and answers a
request through a mock LM, with the API key, as the container would."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import time

import httpx
import yaml
from scaffolding import new_args
from serving import DSPY_CLI, clean_env, free_port, run_cli, start_mock_lm

KEY = "docker-key-0123456789abcdef"


def dockerfile_command(text: str) -> list[str]:
    """The exec-form CMD (or ENTRYPOINT + CMD) as an argument list."""
    parts = []
    for instruction in ("ENTRYPOINT", "CMD"):
        found = re.findall(rf"^{instruction}\s+(\[.*\])\s*$", text, flags=re.MULTILINE)
        if found:
            parts += json.loads(found[-1])
    assert parts, text
    return parts


def test_generated_dockerfile_command_serves(tmp_path):
    assert run_cli(*new_args("acme-app"), cwd=tmp_path).returncode == 0
    root = tmp_path / "acme-app"
    command = dockerfile_command((root / "Dockerfile").read_text())
    # `uv run` only selects the image's environment; the rest is ours to run.
    assert command[:3] == ["uv", "run", "dspy-cli"], command
    args = command[3:]
    assert args[0] == "serve" and "--auth" in args, args
    port = free_port()
    args[args.index("--port") + 1] = str(port)
    with start_mock_lm() as lm:
        config = yaml.safe_load((root / "dspy.config.yaml").read_text())
        for entry in config["models"]["registry"].values():
            entry["api_base"] = lm.api_base
            # DSPy's disk cache ignores api_base: an earlier run's answer must not stand in.
            entry["cache"] = False
        (root / "dspy.config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        (root / ".env").write_text(f"OPENAI_API_KEY=test\nDSPY_API_KEY={KEY}\n")
        log = open(root / "serve.log", "w")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            [DSPY_CLI, *args],
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=clean_env(),
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                assert proc.poll() is None, (root / "serve.log").read_text()
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                        break
                assert time.monotonic() < deadline, (root / "serve.log").read_text()
                time.sleep(0.2)
            question = {"question": "hi"}
            assert httpx.post(f"{base}/MainPredict", json=question, timeout=60).status_code == 401
            answered = httpx.post(
                f"{base}/MainPredict", json=question, headers={"Authorization": f"Bearer {KEY}"}, timeout=60
            )
            assert answered.status_code == 200, answered.text
            assert "answer" in answered.json()
            assert lm.request_count() >= 1
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
        output = (root / "serve.log").read_text()
        assert "Authentication: ENABLED" in output and KEY not in output
