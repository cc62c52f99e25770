"""`personae eval`: run a persona's test cases and built-in checks, compare with a baseline."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from personae.cli import _fail, _progress_to_stderr, _settings, handles_errors
from personae.core.personas import PERSONA_SUFFIXES, load_persona_with_tests
from personae.settings import Settings
from personae.types import Persona

if TYPE_CHECKING:
    from personae.evals.service import EvalOutcome
    from personae.runtime import Runtime

REGRESSED = 3  # exit code: a check that passed in the baseline fails now (or --strict: any)


def _is_file_argument(persona: str) -> bool:
    return Path(persona).suffix.lower() in PERSONA_SUFFIXES or Path(persona).is_file()


@handles_errors
def eval_command(
    persona: Annotated[
        str,
        typer.Argument(
            help="Persona id, or a persona file (stored first, like `persona add`; its "
            "<name>.eval.yaml beside it adds tests)"
        ),
    ],
    against: Annotated[
        int | None,
        typer.Option(help="Compare with the stored results of this persona revision"),
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(help="Compare with this results file (written by --json), e.g. in CI"),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the results as JSON here")
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Also write the HTML report here")] = None,
    builtins: Annotated[
        bool, typer.Option(help="Run the built-in checks (AI disclosure, identity)")
    ] = True,
    strict: Annotated[
        bool, typer.Option(help="Exit 3 on any failed or errored check, not only regressions")
    ] = False,
    seed: Annotated[int, typer.Option(help="Sampling seed of the first turn of each case")] = 1,
    engine: Annotated[
        str | None, typer.Option(help="Default engine: llamacpp, openai, scripted")
    ] = None,
) -> None:
    """Run a persona's tests and built-in checks through its engine; print a table, write an
    HTML report, store the results. Exit 3 on a regression against the baseline."""
    if against is not None and baseline is not None:
        raise _fail("error: give --against or --baseline, not both", 1)
    settings = _settings(engine=engine)
    from_file = load_persona_with_tests(Path(persona)) if _is_file_argument(persona) else None
    outcome = asyncio.run(_run(settings, persona, from_file, against, baseline, builtins, seed))
    _print(outcome)
    if json_path is not None:
        json_path.write_text(json.dumps(outcome.to_json(), ensure_ascii=False, indent=1) + "\n")
    if report is not None:
        report.write_text(outcome.report.read_text(encoding="utf-8"), encoding="utf-8")
    typer.echo(f"report: {report or outcome.report}")
    failed = any(case.status in ("fail", "error") for case in outcome.run.cases)
    if outcome.regressions or (strict and failed):
        raise typer.Exit(REGRESSED)


async def _run(
    settings: Settings,
    persona: str,
    from_file: Persona | None,
    against: int | None,
    baseline: Path | None,
    builtins: bool,
    seed: int,
) -> EvalOutcome:
    from personae.evals.service import evaluate
    from personae.runtime import Runtime, adopt_avatar

    runtime: Runtime = await Runtime.start(
        settings, progress=_progress_to_stderr, warm=False, channels=False, resume=False
    )
    try:
        slug = persona
        if from_file is not None:
            record = await runtime.store.put_persona(adopt_avatar(from_file, settings))
            slug = record.persona.id
            _progress_to_stderr(f"stored {slug} (revision {record.revision})")
        return await evaluate(
            runtime,
            slug,
            against=against,
            baseline_file=baseline,
            builtins=builtins,
            seed=seed,
            progress=_progress_to_stderr,
        )
    finally:
        await runtime.aclose()


def _print(outcome: EvalOutcome) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    colours = {"pass": "green", "fail": "red", "skip": "dim", "error": "yellow"}
    run = outcome.run
    table = Table(
        "case", "result", "checks", "last reply", title=f"{run.persona} revision {run.revision}"
    )
    regressed = {(r.case, r.check) for r in outcome.regressions}
    for case in run.cases:
        checks = "\n".join(
            f"[{colours[c.status]}]{c.status}[/] {escape(c.check)}"
            + (" [bold red]regression[/]" if (case.name, c.check) in regressed else "")
            + (f": {escape(c.detail)}" if c.detail and c.status != "pass" else "")
            for c in case.checks
        )
        reply = case.replies[-1] if case.replies else ""
        short = reply if len(reply) <= 120 else reply[:119] + "…"
        table.add_row(
            escape(case.name), f"[{colours[case.status]}]{case.status}[/]", checks, escape(short)
        )
    console = Console()
    console.print(table)
    counts = ", ".join(f"{n} {s}" for s, n in run.counts().items())
    console.print(
        f"checks: {counts}; engine {escape(run.engine)} {escape(run.model)}; "
        f"judge: {escape(run.judge or 'none (judged checks skipped)')}"
    )
    if outcome.compared_with is None:
        console.print("first run: stored as the baseline")
    elif outcome.regressions:
        console.print(
            f"[bold red]{len(outcome.regressions)} regression(s)[/] against "
            f"{escape(outcome.compared_with)}; the baseline is kept"
        )
    else:
        console.print(
            f"no regression against {escape(outcome.compared_with)}; stored as the baseline"
        )
