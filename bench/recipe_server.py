"""The hand-written baseline: FastAPI + dspy.asyncify, as in DSPy's deployment tutorial
(https://dspy.ai/tutorials/deployment/), serving the fixture's programs with the same JSON in and out.

Run by bench/run.py in the dspy-cli 0.1.13 venv (which has dspy, fastapi and uvicorn):
    BENCH_API_BASE=http://127.0.0.1:PORT/v1 BENCH_ASYNC_MAX_WORKERS=100 \
        uvicorn recipe_server:app --app-dir bench --port 8000

Deliberately no extras beyond the tutorial: no JSONL logs, no health routes, uvicorn defaults
(including its access log), so it is the "what you would write by hand" reference.
"""

import os
import sys
from pathlib import Path

import dspy
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixture" / "src"))
from bench_app.modules.programs import AsyncPredict, NoLM, SyncPredict

API_BASE = os.environ["BENCH_API_BASE"]
# The tutorial's one knob: how many threads dspy.asyncify may use at once (DSPy's default is 8).
ASYNC_MAX_WORKERS = int(os.environ.get("BENCH_ASYNC_MAX_WORKERS", "8"))


def make_lm(model: str) -> dspy.LM:
    """The fixture's model settings (dspy.config.yaml), written out by hand."""
    return dspy.LM(model, api_base=API_BASE, api_key="bench-key", cache=False, max_tokens=1000)


default_lm = make_lm("openai/gpt-4o-mini")
async_lm = make_lm("openai/gpt-4.1-mini")  # program_models: AsyncPredict -> gpt-4.1-mini
dspy.configure(lm=default_lm, async_max_workers=ASYNC_MAX_WORKERS)

sync_program = dspy.asyncify(SyncPredict())  # forward() in a worker thread, off the event loop
async_program = AsyncPredict()  # aforward() on the event loop via acall
nolm_program = NoLM()


class Question(BaseModel):
    question: str


app = FastAPI(title="DSPy recipe baseline")


@app.post("/SyncPredict")
async def sync_predict(body: Question):
    try:
        result = await sync_program(question=body.question)
        return result.toDict()
    except Exception as e:
        raise HTTPException(status_code=500, detail=str(e)) from e


@app.post("/AsyncPredict")
async def async_predict(body: Question):
    try:
        with dspy.context(lm=async_lm):
            result = await async_program.acall(question=body.question)
        return result.toDict()
    except Exception as e:
        raise HTTPException(status_code=500, detail=str(e)) from e


@app.post("/NoLM")
async def nolm(body: Question):
    # No I/O, so a hand-written server would call it inline rather than pay for a thread hop.
    try:
        return nolm_program(question=body.question)
    except Exception as e:
        raise HTTPException(status_code=500, detail=str(e)) from e
