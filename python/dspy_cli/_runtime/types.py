"""The shapes that cross the Rust <-> Python boundary, in one place.

Each class has a twin of the same name in ``src/engine/convert.rs``, which reads these fields by
attribute: rename one here and the engine fails at start-up with the field's name, instead of
reading the wrong slot of a tuple.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from dspy_cli._runtime.discovery import DiscoveredModule, LoadFailure
    from dspy_cli.gateway import APIGateway, Gateway


class BodyKind(enum.IntEnum):
    """How FastAPI would read the body. The engine sends the integer value."""

    JSON = 0
    OTHER = 1
    EMPTY = 2


class RouteKind(str, enum.Enum):
    """Who serves a route: the Rust fast path; the gateways' FastAPI app (only reachable
    through its endpoint); nobody over HTTP (the items of a cron job)."""

    HTTP = "http"
    APP = "app"
    CRON = "cron"


class LogParts(NamedTuple):
    """What the inference log line of a request needs: JSON of inputs and outputs, the error."""

    inputs: bytes
    outputs: bytes
    error: str | None
    usage: bytes | None


class Outcome(NamedTuple):
    """What every entry point of ``invoke`` returns (they never raise).

    ``log`` is None for requests that never reached the module (422, 404-like rejections).
    """

    status: int
    body: bytes
    log: LogParts | None = None


@dataclass(frozen=True)
class ImageCaps:
    """``server.log_image_max_bytes`` and ``server.log_images_max_total_bytes``."""

    max_bytes: int
    max_total_bytes: int


@dataclass(frozen=True)
class EngineSettings:
    """What the engine hands ``host.load``: the validated config, models and project paths."""

    config: dict[str, Any]
    registry: dict[str, dict[str, Any]]
    default_alias: str
    program_aliases: dict[str, str]
    root: Path
    src_dir: Path
    modules_dir: Path
    package_name: str
    logs_dir: Path
    environment: dict[str, str]
    fresh_instance_per_request: bool
    log_images: ImageCaps
    offline: bool

    def alias_of(self, program: str) -> str:
        """The model alias a program runs with (``program_models``, else the default)."""
        return self.program_aliases.get(program, self.default_alias)


class ProgramInfo(NamedTuple):
    """One discovered program, as ``GET /programs`` lists it."""

    name: str
    model: str
    endpoint: str


class CronJobInfo(NamedTuple):
    """A cron gateway of a program."""

    program: str
    gateway: str
    schedule: str
    use_batch: bool
    num_threads: int | None


@dataclass(eq=False)
class Route:
    """One HTTP route of one program (a program gets one route per API gateway)."""

    name: str
    path: str
    method: str
    module: DiscoveredModule
    gateway: APIGateway
    lm: Any
    alias: str
    model: str
    request_adapter: Any
    request_model: Any
    response_adapter: Any
    response_model: Any
    logs_dir: Path
    loop: Any
    fresh_instance: bool
    # A fresh copy of ``lm`` per request (``request_lm.factory``).
    request_lm: Callable[[], Any]
    kind: RouteKind = RouteKind.HTTP
    # For APP routes: what the gateway registered on the app ("POST /hooks/in").
    app_routes: list[str] = field(default_factory=list)

    @property
    def cls(self) -> type:
        return self.module.cls

    @property
    def is_async(self) -> bool:
        return self.module.is_async

    @property
    def instance(self) -> Any:
        return None if self.fresh_instance else self.module.instance

    @property
    def dspy_inputs(self) -> dict[str, type]:
        return self.module.schema.dspy_inputs

    @property
    def scalar_key(self) -> str:
        outputs = list(self.module.schema.outputs)
        return outputs[0] if self.module.schema.typed and len(outputs) == 1 else "result"


@dataclass(frozen=True)
class Loaded:
    """What ``host.load`` returns to the engine."""

    routes: list[Route]
    programs: list[ProgramInfo]
    load_errors: list[LoadFailure]
    openapi: str
    loop: Any
    gateways: list[Gateway]
    app_paths: list[str]
    cron_jobs: list[CronJobInfo]
    # Program name -> what of it is not served, and why (printed at start-up).
    notes: dict[str, list[str]]
