"""Start-up on the Python side: logging, LMs, discovery, routes, OpenAPI.

Called once by the Rust engine on the main thread, before any request is served.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from dspy_cli._runtime import asgi, cron, gateways, invoke, logfmt, openapi, request_lm, ui_info
from dspy_cli._runtime.cost import record_cost_in_usage
from dspy_cli._runtime.discovery import DiscoveredModule, DiscoveryError, LoadFailure, discover
from dspy_cli._runtime.schema import Adapters, build_request_adapter, build_response_adapter
from dspy_cli._runtime.types import EngineSettings, Loaded, ProgramInfo, Route, RouteKind
from dspy_cli.gateway import APIGateway, Gateway, IdentityGateway

# Routes the Rust server answers itself, before any gateway route.
BUILTIN_ROUTES = dict.fromkeys(
    ("/health/live", "/health/ready", "/programs", "/openapi.json", "/api/metrics", "/metrics"), "the built-in route"
)

logger = logging.getLogger("dspy_cli.server")

LOG_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
LM_KEYS = ("temperature", "max_tokens", "api_key", "api_base", "cache")


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, datefmt="%Y-%m-%d %H:%M:%S", stream=sys.stderr)


def build_lm(entry: dict[str, Any]) -> Any:
    import dspy

    kwargs = {key: entry[key] for key in LM_KEYS if entry.get(key) is not None}
    return dspy.LM(model=entry["model"], model_type=entry.get("model_type", "chat"), **kwargs)


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        return loop
    except ImportError:
        return asyncio.new_event_loop()


def _load_optimized_state(module: DiscoveredModule, package_dir: Path, root: Path) -> None:
    for path in (package_dir / "optimized" / f"{module.name}.json", root / "optimized" / f"{module.name}.json"):
        if path.exists() and module.instance is not None:
            try:
                module.instance.load(str(path))
            except Exception as exc:
                message = f"Could not load optimized state for {module.name} from {path}: {type(exc).__name__}: {exc}"
                raise DiscoveryError(
                    f"{message}. Re-save it with the installed dspy version, or remove the file."
                ) from exc
            logger.info("Loaded optimized state for %s from %s", module.name, path)
            return


class _RouteBuilder:
    """Routes of every module: HTTP ones, FastAPI-app ones, and cron jobs (with their routes)."""

    def __init__(self, settings: EngineSettings, lms: dict[str, Any], logs_dir: Path, loop: Any) -> None:
        self.settings, self.lms, self.logs_dir, self.loop = settings, lms, logs_dir, loop
        self.routes: list[Route] = []
        self.gateways: list[Gateway] = []
        self.owners: dict[tuple[str, str], str] = {}
        # One copier per model alias: what it checks about the LM holds for the server's life.
        self.copiers: dict[str, Any] = {}

    def _route(
        self, module: DiscoveredModule, gateway: APIGateway, path: str, kind: RouteKind, models: Adapters
    ) -> Route:
        settings = self.settings
        alias = settings.alias_of(module.name)
        (request_adapter, request_model), (response_adapter, response_model) = models
        route = Route(
            name=module.name,
            path=path,
            method=gateway.method.upper(),
            module=module,
            gateway=gateway,
            lm=self.lms[alias],
            alias=alias,
            model=settings.registry[alias]["model"],
            request_adapter=request_adapter,
            request_model=request_model,
            response_adapter=response_adapter,
            response_model=response_model,
            logs_dir=self.logs_dir,
            loop=self.loop,
            fresh_instance=settings.fresh_instance_per_request,
            request_lm=self._copier(alias),
            kind=kind,
        )
        self.routes.append(route)
        return route

    def _copier(self, alias: str) -> Any:
        if alias not in self.copiers:
            self.copiers[alias] = request_lm.factory(self.lms[alias])
        return self.copiers[alias]

    def _claim(self, method: str, path: str, owner: str) -> None:
        key = (method.upper(), path)
        if key in self.owners:
            raise DiscoveryError(
                f"Route path conflict: '{path}' is used by both {self.owners[key]} and {owner}. "
                "Set explicit 'path' attribute on one of the gateways to resolve."
            )
        self.owners[key] = owner

    def _claim_app_routes(self, app_routes: list[Any], owner: str) -> list[str]:
        """Claim what a gateway registered on the app; notes for what other routes shadow."""
        notes = []
        for app_route in app_routes:
            for method in sorted(getattr(app_route, "methods", None) or []):
                key = (method, app_route.path)
                holder = self.owners.get(key) or (
                    BUILTIN_ROUTES.get(app_route.path) if method in ("GET", "HEAD") else None
                )
                if holder is not None and holder != owner:
                    notes.append(f"not served: {method} {app_route.path} of gateway {owner} (shadowed by {holder})")
                else:
                    self.owners[key] = owner
        return notes

    def add_module(self, module: DiscoveredModule) -> list[str]:
        """Register a module's gateways; returns the notes on what is not served."""
        alias = self.settings.alias_of(module.name)
        logger.info("Created LM for program: %s (model: %s)", module.name, alias)
        found = gateways.collect(module.name, module.cls)
        models = (build_request_adapter(module.name, module.schema), build_response_adapter(module.name, module.schema))
        for gateway in found.api:
            path = gateways.route_path(module.name, gateway)
            owner = f"{module.name}.{type(gateway).__name__}"
            self._claim(gateway.method, path, owner)
            gateways.run_setup(owner, gateway)
            self.gateways.append(gateway)
            if not gateways.registers_own_route(gateway):
                self._route(module, gateway, path, RouteKind.HTTP, models)
                continue
            index = len(self.routes)
            route = self._route(module, gateway, path, RouteKind.APP, models)
            endpoint = asgi.make_endpoint(index, module.name, route.request_model)
            app = asgi.app()
            before = len(app.routes)
            gateway.configure_route(app, path, endpoint, route.response_model)
            route.app_routes = [asgi.describe_route(r) for r in app.routes[before:]]
            found.notes += self._claim_app_routes(app.routes[before:], owner)
            if not route.app_routes:
                found.notes.append(
                    f"not served: gateway {type(gateway).__name__} registered no route in configure_route"
                )
        if found.cron:
            cron_route = self._route(module, IdentityGateway(), "", RouteKind.CRON, models)
            cron_index = len(self.routes) - 1
            for cron_gateway in found.cron:
                job = cron.CronJob(module.name, cron_gateway, cron_index, cron_route)
                gateways.run_setup(job.name, cron_gateway)
                self.gateways.append(cron_gateway)
                cron.jobs.append(job)
        return found.notes


def load(settings: EngineSettings) -> Loaded:
    """Build everything the server needs. Raises DiscoveryError / ValueError on fatal problems."""
    import dspy

    # .env was read by Rust; Python keeps its own copy of the environment (LM clients and user
    # code read os.environ), so add the same variables there.
    for key, value in settings.environment.items():
        os.environ.setdefault(key, value)
    configure_logging()
    lms = {alias: build_lm(entry) for alias, entry in settings.registry.items()}
    dspy.configure(lm=lms[settings.default_alias], disable_history=True)
    record_cost_in_usage()

    root = Path(settings.root)
    package_dir = Path(settings.modules_dir).parent
    failures: list[LoadFailure] = []
    modules = discover(Path(settings.modules_dir), settings.package_name, Path(settings.src_dir), failures)
    if not modules:
        logger.warning("No DSPy modules discovered!")
    loop = new_event_loop()
    logs_dir = Path(settings.logs_dir)
    logfmt.configure(logs_dir, settings.log_images.max_bytes, settings.log_images.max_total_bytes)
    builder = _RouteBuilder(settings, lms, logs_dir, loop)
    notes: dict[str, list[str]] = {}
    for module in modules:
        _load_optimized_state(module, package_dir, root)
        notes[module.name] = builder.add_module(module)
    routes = builder.routes
    # Requests copy this context: it already holds everything dspy.configure set.
    invoke.root_context = contextvars.copy_context()
    programs = [ProgramInfo(m.name, settings.alias_of(m.name), f"/{m.name}") for m in modules]
    http_routes = [r for r in routes if r.kind == RouteKind.HTTP]
    spec = openapi.build_spec(settings.config, modules, http_routes, programs, settings.default_alias)
    spec["info"]["x-dspy-ui"] = ui_info.describe(modules, http_routes)
    app_paths, app_schemas = asgi.openapi_paths()
    for path, item in app_paths.items():
        spec["paths"].setdefault(path, item)
    spec["components"]["schemas"] = dict(sorted({**app_schemas, **spec["components"]["schemas"]}.items()))
    _freeze_startup_objects()
    return Loaded(
        routes=routes,
        programs=programs,
        load_errors=failures,
        openapi=json.dumps(spec, ensure_ascii=False, separators=(",", ":")),
        loop=loop,
        gateways=builder.gateways,
        app_paths=asgi.registered_paths(),
        cron_jobs=[job.describe() for job in cron.jobs],
        notes=notes,
    )


def _freeze_startup_objects() -> None:
    """Put what start-up built (DSPy, LiteLLM, pydantic models, the programs) out of the cyclic
    collector's sight: it lives as long as the process, yet every full collection walked all of
    it while holding the GIL (~65,000 objects, 20-50 ms per collection on a 2-core box, a few
    times a minute under load). Garbage made by requests is still collected as before."""
    gc.collect()
    gc.freeze()


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


def shutdown_gateways(instances: list[Gateway]) -> None:
    gateways.shutdown_all(instances)


def set_bridge(bridge: Any) -> None:
    """Called by the engine once the loop runs: how gateway endpoints and cron jobs run programs."""
    asgi.bridge = bridge


__all__ = ["DiscoveryError", "Route", "load", "run_loop", "save_openapi", "set_bridge", "shutdown_gateways"]
