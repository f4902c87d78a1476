"""One run of a cron gateway, on the loop thread; the Rust scheduler decides when.

Sequential mode sends every item through the Rust engine like an HTTP request (slot, LM,
usage, a log line marked ``"source": "cron"``, metrics). Batch mode (``use_batch``) hands all
items to ``module.batch`` and logs one line per item, failures as failures (upstream logged
them as successes).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import dspy
from pydantic_core import to_json

from dspy_cli._runtime import asgi, invoke
from dspy_cli._runtime.types import CronJobInfo, Route
from dspy_cli.gateway import CronGateway

logger = logging.getLogger("dspy_cli.server.scheduler")

CRON = "cron"


class CronItemError(Exception):
    """An item the program could not process (the message is the server's error detail)."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(detail if isinstance(detail, str) else json.dumps(detail))
        self.status_code = status
        self.detail = detail


@dataclass(eq=False)
class CronJob:
    program: str
    gateway: CronGateway
    route_index: int
    route: Route

    @property
    def name(self) -> str:
        return f"{self.program}.{type(self.gateway).__name__}"

    def describe(self) -> CronJobInfo:
        gateway = self.gateway
        return CronJobInfo(
            program=self.program,
            gateway=type(gateway).__name__,
            schedule=gateway.schedule,
            use_batch=bool(gateway.use_batch),
            num_threads=gateway.num_threads,
        )


# Filled by host.load, in registration order; the engine refers to jobs by index.
jobs: list[CronJob] = []


async def _report_error(job: CronJob, raw: dict[str, Any], error: Exception) -> None:
    try:
        await job.gateway.on_error(raw, error)
    except Exception as exc:
        logger.error("CronGateway on_error raised for %s: %s: %s", job.name, type(exc).__name__, exc)


async def _run_item(job: CronJob, raw: dict[str, Any]) -> bool:
    try:
        kwargs = job.gateway.extract_pipeline_kwargs(raw)
        status, body = await asgi.run_program(job.route_index, to_json(kwargs, fallback=str), CRON)
        data: Any = json.loads(body) if body else None
        if status != 200:
            detail = data.get("detail") if isinstance(data, dict) else data
            raise CronItemError(status, detail)
        await job.gateway.on_complete(raw, data)
        return True
    except Exception as exc:
        logger.error("Cron job %s: item failed: %s: %s", job.name, type(exc).__name__, exc)
        await _report_error(job, raw, exc)
        return False


def _batch_results(job: CronJob, inputs: list[dict[str, Any]]) -> list[tuple[Any, BaseException | None]]:
    """Run ``module.batch`` (on a worker thread) and pair every input with (output, error)."""
    route, gateway = job.route, job.gateway
    examples = [dspy.Example(**x).with_inputs(*x.keys()) for x in inputs]
    instance = route.instance if route.instance is not None else route.cls()
    options = {
        k: v for k, v in (("num_threads", gateway.num_threads), ("max_errors", gateway.max_errors)) if v is not None
    }
    with dspy.context(lm=route.lm.copy()):
        results, failed, errors = instance.batch(
            examples, return_failed_examples=True, disable_progress_bar=True, **options
        )
    # Parallel leaves None where an item failed; match each failure back to its input.
    pairs: list[tuple[Any, BaseException | None]] = [(r, None) for r in results]
    unmatched = [i for i, r in enumerate(results) if r is None]
    # DSPy returns one error per failed example (strict=False: its contract, not ours, to check).
    for example, error in zip(failed, errors, strict=False):
        values = dict(example.inputs()) if hasattr(example, "inputs") else {}
        index = next((i for i in unmatched if inputs[i] == values), unmatched[0] if unmatched else None)
        if index is not None:
            unmatched.remove(index)
            pairs[index] = (None, error)
    for index in unmatched:
        pairs[index] = (None, RuntimeError("the program returned no result for this item"))
    return pairs


async def _run_batch(job: CronJob, items: list[dict[str, Any]]) -> tuple[int, int]:
    inputs = [job.gateway.extract_pipeline_kwargs(raw) for raw in items]
    started = time.monotonic()
    try:
        pairs = await asyncio.to_thread(invoke.root_context.copy().run, _batch_results, job, inputs)
    except Exception as exc:
        logger.error("Cron job %s: batch failed: %s: %s", job.name, type(exc).__name__, exc)
        pairs = [(None, exc) for _ in inputs]
    each_ms = (time.monotonic() - started) * 1000 / max(len(inputs), 1)
    ok = 0
    # One input per item (built above) and one (result, error) per input: DSPy's batch returns a
    # result, or None, per example.
    for raw, kwargs, (result, error) in zip(items, inputs, pairs, strict=False):
        log_inputs = to_json(kwargs, fallback=str)
        if error is not None:
            asgi.bridge.record(job.route_index, log_inputs, b"{}", str(error) or type(error).__name__, 0.0, CRON)
            await _report_error(job, raw, error if isinstance(error, Exception) else RuntimeError(str(error)))
            continue
        output = invoke.normalize_output(result, job.route)
        asgi.bridge.record(job.route_index, log_inputs, to_json(output, fallback=str), None, each_ms, CRON)
        try:
            await job.gateway.on_complete(raw, output)
            ok += 1
        except Exception as exc:
            logger.error("CronGateway on_complete raised for %s: %s: %s", job.name, type(exc).__name__, exc)
    return ok, len(items) - ok


async def run(job: CronJob) -> tuple[int, int, str | None]:
    """One scheduled run: (items ok, items failed, error that stopped the run or None)."""
    try:
        items = list(await job.gateway.get_pipeline_inputs() or [])
    except Exception as exc:
        logger.error("CronGateway error fetching inputs for %s: %s", job.program, exc)
        return 0, 0, f"fetching inputs failed: {type(exc).__name__}: {exc}"
    if not items:
        return 0, 0, None
    if job.gateway.use_batch:
        ok, failed = await _run_batch(job, items)
        return ok, failed, None
    results = [await _run_item(job, raw) for raw in items]
    return sum(results), len(results) - sum(results), None


def start(index: int, done: Any) -> None:
    """Entry point on the loop thread: start run ``index``; ``done(ok, failed, error)`` at the end."""
    job = jobs[index]

    async def guarded() -> None:
        try:
            ok, failed, error = await run(job)
        except BaseException as exc:  # a run must always report back
            ok, failed, error = 0, 0, f"{type(exc).__name__}: {exc}"
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
        done(ok, failed, error)

    asgi.keep_running(invoke.create_task(asyncio.get_running_loop(), guarded()))


__all__ = ["CronItemError", "CronJob", "jobs", "run", "start"]
