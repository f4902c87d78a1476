"""Public gateway API for user code, import-compatible with dspy-cli.

A module picks its gateways with a class attribute: ``gateway = MyGateway`` or a list of them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from pydantic import BaseModel

PipelineInputs = dict[str, Any]
PipelineOutput = dict[str, Any]

__all__ = [
    "APIGateway",
    "CronGateway",
    "Gateway",
    "IdentityGateway",
    "PipelineInputs",
    "PipelineOutput",
]


class Gateway(ABC):  # noqa: B024 - abstract by convention, like upstream
    """Base of every gateway: optional lifecycle hooks."""

    def setup(self) -> None:  # noqa: B027 - an optional hook: a no-op unless overridden
        """Called once when the server registers the gateway."""

    def shutdown(self) -> None:  # noqa: B027 - an optional hook: a no-op unless overridden
        """Called once when the server stops."""


class APIGateway(Gateway):
    """Turns an HTTP request into pipeline inputs and the pipeline output into a response."""

    request_model: ClassVar[type[BaseModel] | None] = None
    response_model: ClassVar[type[BaseModel] | None] = None
    path: ClassVar[str | None] = None
    method: ClassVar[str] = "POST"
    requires_auth: ClassVar[bool] = True

    def to_pipeline_inputs(self, request: Any) -> PipelineInputs:
        if isinstance(request, BaseModel):
            return request.model_dump()
        return dict(request) if request else {}

    def from_pipeline_output(self, output: PipelineOutput) -> Any:
        return output

    def configure_route(self, app: Any, route_path: str, endpoint: Any, response_model: Any) -> None:
        """Register the gateway's route on a FastAPI ``app``.

        dspy-cli-rs serves gateways that keep this default on its own fast path, without FastAPI.
        Override it to register your own handler (raw ``Request``, ``BackgroundTasks``, custom
        responses); ``await endpoint(inputs)`` then runs the program and returns its output.
        """
        app.add_api_route(route_path, endpoint, methods=[self.method], response_model=response_model)


class IdentityGateway(APIGateway):
    """The default: request body in, module output out."""


class CronGateway(Gateway):
    """Runs a module on a schedule (crontab syntax) over inputs it fetches itself."""

    schedule: ClassVar[str] = ""
    use_batch: ClassVar[bool] = False
    num_threads: ClassVar[int | None] = None
    max_errors: ClassVar[int | None] = None

    @abstractmethod
    async def get_pipeline_inputs(self) -> list[dict[str, Any]]: ...

    @abstractmethod
    async def on_complete(self, inputs: dict[str, Any], output: PipelineOutput) -> None: ...

    async def on_error(self, inputs: dict[str, Any], error: Exception) -> None:
        """Called when one input fails; a no-op by default."""

    @staticmethod
    def extract_pipeline_kwargs(data: dict[str, Any]) -> dict[str, Any]:
        """Drop the ``_``-prefixed keys (such as ``_meta``) that only ``on_complete`` needs."""
        return {k: v for k, v in data.items() if not k.startswith("_")}
