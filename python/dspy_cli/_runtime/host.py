"""Start-up on the Python side: logging, LMs, discovery, routes, OpenAPI.

Called once by the Rust engine on the main thread, before any request is served.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dspy_cli._runtime import invoke, openapi
from dspy_cli._runtime.cost import record_cost_in_usage
from dspy_cli._runtime.discovery import DiscoveredModule, DiscoveryError, LoadFailure, discover
from dspy_cli._runtime.schema import build_request_adapter, build_response_adapter
from dspy_cli.gateway import APIGateway, Gateway, IdentityGateway

logger = logging.getLogger("dspy_cli.server")

LOG_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
LM_KEYS = ("temperature", "max_tokens", "api_key", "api_base", "cache")


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

    @property
    def cls(self) -> type:
        return self.module.cls

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


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, datefmt="%Y-%m-%d %H:%M:%S", stream=sys.stderr)


def build_lm(entry: dict[str, Any]) -> Any:
    import dspy

    kwargs = {key: entry[key] for key in LM_KEYS if entry.get(key) is not None}
    return dspy.LM(model=entry["model"], model_type=entry.get("model_type", "chat"), **kwargs)


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()


def _gateway_classes(cls: type) -> list[type]:
    attr = getattr(cls, "gateway", None)
    candidates = attr if isinstance(attr, (list, tuple)) else [attr] if attr is not None else []
    classes = [c for c in candidates if isinstance(c, type) and issubclass(c, Gateway)]
    if len(classes) != len(candidates):
        logger.warning("Module %s: ignoring 'gateway' entries that are not Gateway subclasses", cls.__name__)
    return classes


def _api_gateways(module: DiscoveredModule) -> list[APIGateway]:
    gateways: list[APIGateway] = []
    classes = _gateway_classes(module.cls)
    for gateway_cls in classes:
        if not issubclass(gateway_cls, APIGateway):
            continue  # cron gateways are not served over HTTP
        try:
            gateways.append(gateway_cls())
        except Exception as exc:
            logger.error("Could not create gateway %s for %s: %s", gateway_cls.__name__, module.name, exc)
    only_cron = bool(classes) and not any(issubclass(c, APIGateway) for c in classes)
    return [] if only_cron else gateways or [IdentityGateway()]


def _route_path(module: DiscoveredModule, gateway: APIGateway) -> str:
    if gateway.path:
        return gateway.path
    if isinstance(gateway, IdentityGateway):
        return f"/{module.name}"
    return f"/{module.name}/{type(gateway).__name__}"


def _load_optimized_state(module: DiscoveredModule, package_dir: Path, root: Path) -> None:
    for path in (package_dir / "optimized" / f"{module.name}.json", root / "optimized" / f"{module.name}.json"):
        if path.exists() and module.instance is not None:
            try:
                module.instance.load(str(path))
            except Exception as exc:
                message = f"Could not load optimized state for {module.name} from {path}: {type(exc).__name__}: {exc}"
                raise DiscoveryError(f"{message}. Re-save it with the installed dspy version, or remove the file.") from exc
            logger.info("Loaded optimized state for %s from %s", module.name, path)
            return


def load(settings_json: str) -> dict[str, Any]:
    """Build everything the server needs. Raises DiscoveryError / ValueError on fatal problems."""
    import dspy

    settings = json.loads(settings_json)
    # .env was read by Rust; Python keeps its own copy of the environment (LM clients and user
    # code read os.environ), so add the same variables there.
    for key, value in settings["environment"].items():
        os.environ.setdefault(key, value)
    configure_logging()
    config = settings["config"]
    registry = settings["registry"]
    lms = {alias: build_lm(entry) for alias, entry in settings["registry"].items()}
    dspy.configure(lm=lms[settings["default_alias"]], disable_history=True)
    record_cost_in_usage()

    root = Path(settings["root"])
    package_dir = Path(settings["modules_dir"]).parent
    failures: list[LoadFailure] = []
    modules = discover(Path(settings["modules_dir"]), settings["package_name"], Path(settings["src_dir"]), failures)
    if not modules:
        logger.warning("No DSPy modules discovered!")
    loop = new_event_loop()
    logs_dir = Path(settings["logs_dir"])
    routes: list[Route] = []
    owners: dict[tuple[str, str], str] = {}
    for module in modules:
        _load_optimized_state(module, package_dir, root)
        alias = settings["program_aliases"].get(module.name, settings["default_alias"])
        request_adapter, request_model = build_request_adapter(module.name, module.schema)
        response_adapter, response_model = build_response_adapter(module.name, module.schema)
        logger.info("Created LM for program: %s (model: %s)", module.name, alias)
        for gateway in _api_gateways(module):
            path = _route_path(module, gateway)
            key = (gateway.method.upper(), path)
            owner = f"{module.name}.{type(gateway).__name__}"
            if key in owners:
                raise DiscoveryError(
                    f"Route path conflict: '{path}' is used by both {owners[key]} and {owner}. "
                    "Set explicit 'path' attribute on one of the gateways to resolve."
                )
            owners[key] = owner
            gateway.setup()
            route = Route(
                name=module.name,
                path=path,
                method=gateway.method.upper(),
                module=module,
                gateway=gateway,
                lm=lms[alias],
                alias=alias,
                model=registry[alias]["model"],
                request_adapter=request_adapter,
                request_model=request_model,
                response_adapter=response_adapter,
                response_model=response_model,
                logs_dir=logs_dir,
                loop=loop,
                fresh_instance=settings["fresh_instance_per_request"],
            )
            routes.append(route)
    # Requests copy this context: it already holds everything dspy.configure set.
    invoke.root_context = contextvars.copy_context()
    programs = [
        {"name": m.name, "model": settings["program_aliases"].get(m.name, settings["default_alias"]), "endpoint": f"/{m.name}"}
        for m in modules
    ]
    spec = openapi.build_spec(config, modules, routes, programs, settings["default_alias"])
    return {
        "routes": routes,
        "programs_json": json.dumps(programs, ensure_ascii=False),
        "load_errors_json": json.dumps([f.as_json() for f in failures], ensure_ascii=False),
        "openapi": json.dumps(spec, ensure_ascii=False, separators=(",", ":")),
        "loop": loop,
        "gateways": [r.gateway for r in routes],
    }


def run_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Body of the engine's loop thread."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()


def save_openapi(spec_json: str, path: str, fmt: str) -> None:
    spec = json.loads(spec_json)
    with open(path, "w", encoding="utf-8") as handle:
        if fmt == "yaml":
            import yaml

            yaml.dump(spec, handle, default_flow_style=False, sort_keys=False, allow_unicode=True)
        else:
            json.dump(spec, handle, indent=2)


def shutdown_gateways(gateways: list[Gateway]) -> None:
    for gateway in gateways:
        try:
            gateway.shutdown()
        except Exception as exc:
            logger.error("Gateway shutdown error: %s", exc)


__all__ = ["DiscoveryError", "Route", "load", "run_loop", "save_openapi", "shutdown_gateways"]
