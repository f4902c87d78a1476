"""schemathesis against our own /openapi.json: no server error, no response that breaks the spec."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from serving import DEFAULT_CONFIG, make_project, start_mock_lm, start_server

FUZZED = {
    "fuzzed.py": """
        from typing import Literal, Optional
        import dspy

        class TypedFuzz(dspy.Module):
            def forward(self, text: str, count: int = 1, mode: Literal["a", "b"] = "a",
                        tags: Optional[list[str]] = None) -> dict:
                return {"text": text, "count": count, "mode": mode, "tags": tags or []}

        class UntypedFuzz(dspy.Module):
            def forward(self, **kwargs):
                return {"keys": sorted(kwargs)}
    """
}

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance"


def test_api_conforms_to_its_openapi_document(tmp_path):
    with (
        start_mock_lm(delay_ms=0) as lm,
        start_server(make_project(tmp_path / "fuzz", FUZZED, DEFAULT_CONFIG.format(api_base=lm.api_base))) as server,
    ):
        # The CLI rather than the pytest plugin: the plugin does not support pytest 9 yet.
        schemathesis = Path(sys.executable).with_name("schemathesis")
        command = [
            str(schemathesis),
            "run",
            f"{server.url}/openapi.json",
            "--max-examples",
            "40",
            "--checks",
            CHECKS,
            "--seed",
            "1",
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert result.returncode == 0, result.stdout[-5000:]
        assert "passed" in result.stdout and "failed" not in result.stdout.split("SUMMARY")[-1]
