"""A module's gateways: which exist, where each is served, and what is not served and why.

Upstream's rules (reference server.md §2.5, §3.5): the ``gateway`` class attribute is a Gateway
class or a list of them; each is instantiated with no arguments; a module whose gateways all
failed (or that has none) gets an ``IdentityGateway``; a module with only cron gateways gets no
HTTP route. Everything dropped on the way is written down in ``notes`` for the start-up listing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from dspy_cli._runtime.discovery import DiscoveryError
from dspy_cli.gateway import APIGateway, CronGateway, Gateway, IdentityGateway

logger = logging.getLogger("dspy_cli.server")


@dataclass
class ModuleGateways:
    api: list[APIGateway] = field(default_factory=list)
    cron: list[CronGateway] = field(default_factory=list)
    # Human-readable reasons for what is not served, printed under the program at start-up.
    notes: list[str] = field(default_factory=list)


def _declared(cls: type, gateways: ModuleGateways) -> list[type]:
    attr = getattr(cls, "gateway", None)
    if attr is None:
        return []
    candidates = list(attr) if isinstance(attr, (list, tuple)) else [attr]
    classes = []
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, Gateway):
            classes.append(candidate)
        else:
            note = f"not served: gateway entry {candidate!r} is not a Gateway subclass (ignored)"
            logger.warning("Module %s: %s", cls.__name__, note)
            gateways.notes.append(note)
    return classes


def collect(name: str, cls: type) -> ModuleGateways:
    """Instantiate the gateways a module declares."""
    gateways = ModuleGateways()
    instances: list[Gateway] = []
    for gateway_cls in _declared(cls, gateways):
        try:
            instances.append(gateway_cls())
        except Exception as exc:
            note = f"not served: gateway {gateway_cls.__name__} could not be created: {type(exc).__name__}: {exc}"
            logger.error("Module %s: %s", name, note)
            gateways.notes.append(note)
    if not instances:
        instances = [IdentityGateway()]
    gateways.api = [g for g in instances if isinstance(g, APIGateway)]
    gateways.cron = [g for g in instances if isinstance(g, CronGateway)]
    if not gateways.api:
        gateways.notes.append("no HTTP route: its only gateways are cron gateways")
    return gateways


def route_path(module_name: str, gateway: APIGateway) -> str:
    if gateway.path:
        return gateway.path
    if isinstance(gateway, IdentityGateway):
        return f"/{module_name}"
    return f"/{module_name}/{type(gateway).__name__}"


def registers_own_route(gateway: APIGateway) -> bool:
    """True when the gateway overrides ``configure_route`` (it then needs a FastAPI app)."""
    return type(gateway).configure_route is not APIGateway.configure_route


def run_setup(owner: str, gateway: Gateway) -> None:
    """Call ``setup()``; a failure aborts start-up with the error's own text (as upstream)."""
    try:
        gateway.setup()
    except Exception as exc:
        logger.error("Gateway setup failed for %s: %s: %s", owner, type(exc).__name__, exc)
        raise DiscoveryError(str(exc) or type(exc).__name__) from exc


def shutdown_all(gateways: list[Gateway]) -> None:
    for gateway in gateways:
        try:
            gateway.shutdown()
        except Exception as exc:
            logger.error("Gateway shutdown error: %s", exc)


__all__ = ["ModuleGateways", "collect", "registers_own_route", "route_path", "run_setup", "shutdown_all"]
