"""Cron gateways: the scheduler in `serve`, `serve --no-cron`, `dspy-cli cron list|run`.

Covers reference server.md §14's scheduler checklist and issue #10's cron behaviours, with
6-field (seconds) schedules so runs happen within a test.
"""

from __future__ import annotations

import itertools
import json
import re
import signal
from datetime import datetime
from pathlib import Path

from serving import DEFAULT_CONFIG, free_port, make_project, run_cli, wait_until

JOBS = {
    "jobs.py": """
        import asyncio, json, os
        import dspy
        from dspy_cli.gateway import CronGateway

        OUT = os.environ["CRON_OUT"]

        def record(kind, **data):
            with open(OUT, "a") as handle:
                handle.write(json.dumps({"kind": kind, **data}, default=str) + "\\n")

        class EverySecond(CronGateway):
            schedule = "* * * * * *"

            async def get_pipeline_inputs(self):
                items = [{"text": "good", "_meta": {"id": 1}}]
                if os.environ.get("WITH_FAILURE"):
                    items.append({"text": "fail", "_meta": {"id": 2}})
                return items

            async def on_complete(self, inputs, output):
                record("complete", inputs=inputs, output=output)

            async def on_error(self, inputs, error):
                record("error", inputs=inputs, error=str(error))

        class Echo(dspy.Module):
            gateway = EverySecond

            def forward(self, text: str) -> dict:
                if text == "fail":
                    raise ValueError("cannot process fail")
                return {"echo": text}

        class SlowCron(CronGateway):
            schedule = "* * * * * *"

            async def get_pipeline_inputs(self):
                return [{"text": "slow"}]

            async def on_complete(self, inputs, output):
                record("slow-start")
                await asyncio.sleep(2.5)
                record("slow-end")

        class Slow(dspy.Module):
            gateway = SlowCron

            async def aforward(self, text: str) -> dict:
                return {"echo": text}

        class Batched(CronGateway):
            schedule = "*/2 * * * * *"
            use_batch = True
            num_threads = 2

            async def get_pipeline_inputs(self):
                return [{"text": "a", "_meta": 1}, {"text": "fail", "_meta": 2}, {"text": "b", "_meta": 3}, {"text": "fail2", "_meta": 4}]

            async def on_complete(self, inputs, output):
                record("batch-complete", inputs=inputs, output=output)

            async def on_error(self, inputs, error):
                record("batch-error", inputs=inputs, error=str(error))

        class BatchEcho(dspy.Module):
            gateway = Batched

            def forward(self, text: str) -> dict:
                if text.startswith("fail"):
                    raise ValueError(f"batch item {text}")
                return {"echo": text}
    """
}


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} "):
            return float(line.split()[-1])
    return 0.0


def test_cron_jobs_run_report_items_never_overlap_and_stop_on_sigterm(serve, tmp_path):
    out = tmp_path / "cron.jsonl"
    server = serve(JOBS, env={"CRON_OUT": str(out), "WITH_FAILURE": "1"})
    kinds = lambda: [r["kind"] for r in _records(out)]  # noqa: E731
    assert wait_until(lambda: {"complete", "error", "batch-error", "slow-end"} <= set(kinds()), 60), kinds()

    # on_complete gets the raw item, _meta included; the module never saw _meta.
    complete = next(r for r in _records(out) if r["kind"] == "complete")
    assert complete["inputs"] == {"text": "good", "_meta": {"id": 1}} and complete["output"] == {"echo": "good"}
    error = next(r for r in _records(out) if r["kind"] == "error")
    assert error["inputs"]["_meta"] == {"id": 2} and error["error"] == "cannot process fail"

    # Each item is logged through the engine, marked as coming from cron; failures as failures.
    lines = [json.loads(line) for line in server.log_lines("Echo")]
    assert {(e["inputs"]["text"], e["success"]) for e in lines} == {("good", True), ("fail", False)}
    assert all(e["source"] == "cron" for e in lines)
    # Batch mode: module.batch ran the items; the failing one went to on_error and is logged as failed.
    batch = [json.loads(line) for line in server.log_lines("BatchEcho")]
    assert {(e["inputs"]["text"], e["success"]) for e in batch} == {
        ("a", True),
        ("fail", False),
        ("b", True),
        ("fail2", False),
    }
    # Each failure is matched back to its own item.
    batch_errors = [r for r in _records(out) if r["kind"] == "batch-error"]
    assert {r["inputs"]["_meta"] for r in batch_errors} == {2, 4}
    assert all(r["error"] == f"batch item {r['inputs']['text']}" for r in batch_errors)

    # The slow job (2.5 s per run, ticking every second) never overlaps itself.
    slow = [k for k in kinds() if k.startswith("slow")]
    assert all(a != b for a, b in itertools.pairwise(slow)), slow
    metrics = server.client.get("/metrics").text
    assert _metric(metrics, "dspy_cron_skipped_ticks_total", job="Slow.SlowCron") >= 1
    assert _metric(metrics, "dspy_cron_runs_total", job="Echo.EverySecond", outcome="failed") >= 1
    assert _metric(metrics, "dspy_cron_items_total", job="Echo.EverySecond", outcome="failed") >= 1
    assert server.client.get("/api/metrics/Echo").json()["metrics"]["error_count"] >= 1

    stderr = server.stderr()
    assert "Registered cron gateway: Echo schedule=* * * * * *" in stderr
    assert "Registered cron gateway: BatchEcho schedule=*/2 * * * * * batch=True threads=2" in stderr
    assert "Registered cron gateway: Slow schedule=* * * * * * (" in stderr  # sequential: no batch=
    assert "CRON EverySecond schedule=* * * * * *" in server.stdout()
    assert "no HTTP route: its only gateways are cron gateways" in server.stdout()
    assert server.post("/Echo", {"text": "x"}).status_code == 404
    assert {p["name"] for p in server.client.get("/programs").json()["programs"]} == {"Echo", "Slow", "BatchEcho"}

    assert server.stop(signal.SIGTERM) == 0
    assert "Server stopped" in server.stdout()
    # The failing item's exception is logged with its traceback (at ERROR, after its message);
    # nothing else may print one.
    stderr = server.stderr()
    assert stderr.count("Traceback") == stderr.count(" - ERROR - Error executing ")
    # Nothing runs after the stop.
    count = len(_records(out))
    assert not wait_until(lambda: len(_records(out)) > count, 2)


def test_no_cron_serves_without_scheduling(serve, tmp_path):
    out = tmp_path / "cron.jsonl"
    server = serve(JOBS, None, "--no-cron", env={"CRON_OUT": str(out)})
    assert "not scheduled: --no-cron" in server.stdout()
    assert "dspy-cli cron run Echo.EverySecond" in server.stderr()
    assert not wait_until(out.exists, 3)


def _project(tmp_path: Path, mock_lm, modules=JOBS, config: str = DEFAULT_CONFIG) -> Path:
    return make_project(tmp_path / "p", modules, config.format(api_base=mock_lm.api_base))


def test_cron_run_exit_codes_and_cron_list(tmp_path, mock_lm):
    root = _project(tmp_path, mock_lm)
    out = tmp_path / "cron.jsonl"
    env = {"CRON_OUT": str(out)}
    good = run_cli("cron", "run", "Echo.EverySecond", "--system", cwd=root, env=env)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Echo.EverySecond: 1 item(s) ok, 0 failed" in good.stdout
    assert [r["kind"] for r in _records(out)] == ["complete"]
    assert json.loads((root / "logs" / "Echo.log").read_text())["source"] == "cron"

    failing = run_cli("cron", "run", "Echo", "--system", cwd=root, env={**env, "WITH_FAILURE": "1"})
    assert failing.returncode == 1 and "1 item(s) ok, 1 failed" in failing.stdout

    unknown = run_cli("cron", "run", "Nope", "--system", cwd=root, env=env)
    assert unknown.returncode == 1
    assert (
        "no cron gateway named 'Nope'. Available: BatchEcho.Batched, Echo.EverySecond, Slow.SlowCron" in unknown.stdout
    )

    listed = run_cli("cron", "list", "--system", cwd=root, env=env)
    assert listed.returncode == 0
    assert "Echo.EverySecond  schedule=* * * * * *  next=" in listed.stdout
    assert "BatchEcho.Batched  schedule=*/2 * * * * *" in listed.stdout and "batch" in listed.stdout


FETCH_FAILS = {
    "fetch.py": """
        import dspy
        from dspy_cli.gateway import CronGateway

        class Poll(CronGateway):
            schedule = "0 3 * * 7"

            async def get_pipeline_inputs(self):
                raise ConnectionError("channel unreachable")

            async def on_complete(self, inputs, output):
                pass

        class Moderate(dspy.Module):
            gateway = Poll

            def forward(self, text: str) -> dict:
                return {}
    """
}


def test_cron_run_fails_when_inputs_cannot_be_fetched(tmp_path, mock_lm):
    root = _project(tmp_path, mock_lm, FETCH_FAILS)
    result = run_cli("cron", "run", "Moderate.Poll", "--system", cwd=root)
    assert result.returncode == 1
    assert "CronGateway error fetching inputs for Moderate: channel unreachable" in result.stderr
    assert "Moderate.Poll: failed: fetching inputs failed: ConnectionError: channel unreachable" in result.stdout


def _serve_fails(root: Path) -> tuple[int, str, str]:
    result = run_cli("serve", "--system", "--port", str(free_port()), "--no-save-openapi", cwd=root)
    return result.returncode, result.stdout, result.stderr


def test_bad_schedules_time_zones_and_setup_errors_abort_start_up(tmp_path, mock_lm):
    bad_schedule = {"fetch.py": FETCH_FAILS["fetch.py"].replace('"0 3 * * 7"', '"61 * * * *"')}
    code, out, err = _serve_fails(_project(tmp_path / "a", mock_lm, bad_schedule))
    assert (
        code == 1
        and "Error creating application: Cron gateway Moderate.Poll: Invalid cron schedule '61 * * * *'" in out
    )

    zone = DEFAULT_CONFIG + "server:\n  timezone: Mars/Olympus\n"
    code, out, err = _serve_fails(_project(tmp_path / "b", mock_lm, FETCH_FAILS, zone))
    assert code == 1 and "Unknown time zone 'Mars/Olympus' in server.timezone" in out

    setup_fails = {
        "fetch.py": FETCH_FAILS["fetch.py"].replace(
            "    async def get_pipeline_inputs(self):",
            "    def setup(self):\n                raise RuntimeError('DISCORD_BOT_TOKEN is not set')\n\n            async def get_pipeline_inputs(self):",
            1,
        )
    }
    code, out, err = _serve_fails(_project(tmp_path / "c", mock_lm, setup_fails))
    assert code == 1 and "Error creating application: DISCORD_BOT_TOKEN is not set" in out, out + err


def test_time_zone_is_used_for_schedules(tmp_path, mock_lm):
    config = DEFAULT_CONFIG + "server:\n  timezone: Asia/Tokyo\n"
    root = _project(tmp_path, mock_lm, FETCH_FAILS, config)
    listed = run_cli("cron", "list", "--system", cwd=root)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    # "0 3 * * 7": Sunday 03:00 in Tokyo (7 = Sunday, like 0; upstream's APScheduler said Monday).
    assert "times in Asia/Tokyo" in listed.stdout
    match = re.search(r"next=(\S+ \S+) \+09:00", listed.stdout)
    assert match, listed.stdout
    when = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")
    assert (when.weekday(), when.hour, when.minute) == (6, 3, 0)
