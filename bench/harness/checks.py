"""Is every answer the right one? The mock LM answers `model=<name>`, so the answer shows which LM ran.

- dspy-cli servers (ours and upstream) log every request to logs/<Program>.log (JSONL, same format):
  all lines are checked, and counted against the 200s the clients got.
- The recipe writes no logs: a sample of responses is checked directly.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from .servers import EXPECTED_ANSWER, QUESTION


def check_log(logs_dir: Path, program: str, responses_ok: int) -> dict:
    """Every line of logs/<program>.log and its rotated backups: valid JSON, success, expected
    answer; lines vs 200s received.

    Requests the client cancels at the deadline (oha -z) may still complete and be logged as successes
    (upstream), or be logged as cancelled (ours): neither is an error. Fewer successful lines than 200s
    received means lost log lines.
    """
    lines = invalid = wrong = failed = cancelled = 0
    expected = EXPECTED_ANSWER[program]
    # With many requests the log rotates (server.log_max_bytes): its backups hold lines too.
    paths = sorted(logs_dir.glob(f"{program}.log*"))
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                lines += 1
                try:
                    entry = json.loads(line)
                except ValueError:
                    invalid += 1
                    continue
                if not entry.get("success", False):
                    if "cancel" in str(entry.get("error", "")).lower():
                        cancelled += 1
                    else:
                        failed += 1
                elif (entry.get("outputs") or {}).get("answer") != expected:
                    wrong += 1
    return {
        "method": "log",
        "program": program,
        "lines": lines,
        "responses_ok": responses_ok,
        "cancelled": cancelled,
        "lost": max(0, responses_ok - (lines - invalid - failed - cancelled)),
        "invalid": invalid,
        "failed": failed,
        "mismatches": wrong,
    }


async def _sample(base_url: str, program: str, count: int) -> dict:
    expected = EXPECTED_ANSWER[program]
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0) as client:

        async def one():
            try:
                r = await client.post(f"/{program}", json={"question": QUESTION})
                return r.status_code == 200, r.status_code == 200 and r.json().get("answer") == expected
            except httpx.HTTPError:
                return False, False

        results = await asyncio.gather(*(one() for _ in range(count)))
    ok = sum(1 for status_ok, _ in results if status_ok)
    return {
        "method": "sample",
        "program": program,
        "sampled": count,
        "ok": ok,
        "mismatches": sum(1 for status_ok, right in results if status_ok and not right),
        "errors": count - ok,
    }


def check_sample(base_url: str, program: str, count: int = 20) -> dict:
    """`count` concurrent requests right after the load (still warm), answers checked one by one."""
    return asyncio.run(_sample(base_url, program, count))
