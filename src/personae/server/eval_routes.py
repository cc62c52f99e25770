"""POST /api/personas/{slug}/eval: the persona's eval suite, as `personae eval` runs it (admin
token only: it runs many turns and writes results into the data folder)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from personae.evals.service import evaluate
from personae.server.deps import RuntimeDep, require_admin, require_api_key

router = APIRouter(
    prefix="/api",
    tags=["eval"],
    dependencies=[Depends(require_api_key), Depends(require_admin)],
)
# One run per persona at a time: two would race on its stored results and baseline.
_running: dict[str, asyncio.Lock] = {}


class EvalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    against: int | None = Field(
        None, ge=1, le=2**31 - 1, description="Compare with this revision's stored results"
    )
    builtins: bool = Field(True, description="Run the built-in checks (AI disclosure, identity)")
    seed: int = Field(1, ge=0, le=2**31 - 1, description="Sampling seed of each case's first turn")


@router.post("/personas/{slug}/eval")
async def run_eval(slug: str, runtime: RuntimeDep, body: EvalRequest | None = None) -> Any:
    """Run the persona's tests and built-in checks on its engine; the results, compared with
    the stored baseline (or ``against``'s results), are stored and returned."""
    asked = body or EvalRequest()
    await runtime.store.get_persona(slug)  # 404 before a lock is made for a made-up slug
    lock = _running.setdefault(slug, asyncio.Lock())
    async with lock:
        outcome = await evaluate(
            runtime, slug, against=asked.against, builtins=asked.builtins, seed=asked.seed
        )
    result = outcome.to_json()
    return result
