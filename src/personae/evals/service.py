"""One eval of a stored persona, as the CLI and the admin API run it: the suite through the
runtime's turn path, compared with a baseline, stored, and reported."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from personae.errors import ConfigError
from personae.evals.judge import Judge
from personae.evals.report import render_html
from personae.evals.results import EvalRun, Regression, regressions
from personae.evals.runner import Progress, run_suite
from personae.evals.store import ResultsStore, read_results
from personae.runtime import Runtime


@dataclass(frozen=True)
class EvalOutcome:
    run: EvalRun
    compared_with: str | None  # "baseline", "revision N" or a results file; None: first run
    baseline: EvalRun | None
    regressions: tuple[Regression, ...]
    report: Path

    def to_json(self) -> dict[str, Any]:
        return {
            **self.run.to_json(),
            "compared_with": self.compared_with,
            "regressions": [
                {"case": r.case, "check": r.check, "was": r.was, "now": r.now}
                for r in self.regressions
            ],
        }


def _quiet(_: str) -> None:
    return None


async def evaluate(
    runtime: Runtime,
    slug: str,
    *,
    against: int | None = None,
    baseline_file: Path | None = None,
    builtins: bool = True,
    seed: int = 1,
    progress: Progress = _quiet,
) -> EvalOutcome:
    """Run the persona's suite on its configured engine. Compared with ``baseline_file``, else
    the stored results of revision ``against``, else the stored baseline (none on a first run).
    The run is stored as its revision's results, and as the baseline when nothing regressed.
    Raises PersonaNotFound, ConfigError (a missing or broken results file)."""
    record = await runtime.store.get_persona(slug)
    results = ResultsStore(runtime.settings.home)
    baseline: EvalRun | None
    if baseline_file is not None:
        baseline, label = read_results(baseline_file), str(baseline_file)
    elif against is not None:
        await runtime.store.get_persona_revision(slug, against)  # that revision must exist
        baseline, label = results.of_revision(slug, against), f"revision {against}"
    else:
        baseline, label = results.baseline(slug), "baseline"
    if baseline is not None and baseline.persona != slug:
        raise ConfigError(
            f"{label} holds results of persona {baseline.persona!r}, not {slug!r}; give the "
            f"results file of {slug}"
        )
    engine = await runtime.engines.for_model(record.persona.model)
    judge = Judge.from_settings(runtime.settings)
    try:
        run = await run_suite(
            runtime.turns,
            record,
            engine.info,
            judge,
            builtins=builtins,
            seed=seed,
            parallel=runtime.settings.parallel,
            progress=progress,
        )
    finally:
        if judge is not None:
            await judge.aclose()
    found = tuple(regressions(baseline, run)) if baseline is not None else ()
    results.save(run, as_baseline=not found)
    report = results.save_report(slug, render_html(run, baseline, found))
    return EvalOutcome(run, label if baseline else None, baseline, found, report)
