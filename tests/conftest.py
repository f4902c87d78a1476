"""Fixtures for the end-to-end tests (helpers live in serving.py)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

# Servers started by the tests make no outbound connections: LiteLLM's cost map and DSPy's model
# metadata come from the copies bundled with the packages instead of being downloaded.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from serving import (
    DEFAULT_CONFIG,
    MockLM,
    Server,
    make_project,
    start_mock_lm,
    start_server,
    started_count,
    stop_started_since,
)


@pytest.fixture(autouse=True)
def reap_processes() -> Iterator[None]:
    """Kill every server or mock LM a test started and left running (a failed assert before its
    `stop()`, a server that failed to start). Session fixtures start theirs before this runs."""
    before = started_count()
    yield
    stop_started_since(before)


@pytest.fixture(scope="session")
def mock_lm() -> Iterator[MockLM]:
    with start_mock_lm() as lm:
        yield lm


@pytest.fixture
def serve(tmp_path: Path, mock_lm: MockLM) -> Iterator:
    """Factory: serve(modules, config=None, args=()) -> a running Server, stopped at teardown."""
    servers: list[Server] = []

    def factory(modules: dict[str, str], config: str | None = None, *args: str, **kwargs) -> Server:
        root = tmp_path / f"project{len(servers)}"
        make_project(
            root,
            modules,
            (config or DEFAULT_CONFIG).format(api_base=mock_lm.api_base),
            extra_files=kwargs.pop("extra_files", None),
        )
        server = start_server(root, *args, **kwargs)
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop(signal.SIGKILL)
