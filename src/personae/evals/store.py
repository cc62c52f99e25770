"""Eval results in the data folder: the latest run of each persona revision, and the baseline
a run is compared with.

    $PERSONAE_HOME/evals/<persona>/revision-<N>.json   the latest run of revision N
    $PERSONAE_HOME/evals/<persona>/baseline.json       the last run without a regression
    $PERSONAE_HOME/evals/<persona>/report.html         the latest report
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from personae.errors import ConfigError, NotFound
from personae.evals.results import EvalRun
from personae.private import private_dir, private_file

FOLDER = "evals"


class ResultsNotFound(NotFound):
    """No results are stored for the persona revision a comparison names."""


@dataclass(frozen=True)
class ResultsStore:
    home: Path

    def folder(self, slug: str) -> Path:
        return self.home / FOLDER / slug

    def revision_path(self, slug: str, revision: int) -> Path:
        return self.folder(slug) / f"revision-{revision}.json"

    def baseline_path(self, slug: str) -> Path:
        return self.folder(slug) / "baseline.json"

    def report_path(self, slug: str) -> Path:
        return self.folder(slug) / "report.html"

    def baseline(self, slug: str) -> EvalRun | None:
        path = self.baseline_path(slug)
        return read_results(path) if path.is_file() else None

    def of_revision(self, slug: str, revision: int) -> EvalRun:
        path = self.revision_path(slug, revision)
        if not path.is_file():
            raise ResultsNotFound(
                f"no eval results stored for {slug} revision {revision}; run "
                f"`personae eval {slug}` while that revision is current, or pick another with "
                "--against"
            )
        return read_results(path)

    def save(self, run: EvalRun, as_baseline: bool) -> None:
        private_dir(self.home)
        private_dir(self.home / FOLDER)
        private_dir(self.folder(run.persona))
        text = json.dumps(run.to_json(), ensure_ascii=False, indent=1)
        write_private(self.revision_path(run.persona, run.revision), text)
        if as_baseline:
            write_private(self.baseline_path(run.persona), text)

    def save_report(self, slug: str, html: str) -> Path:
        private_dir(self.folder(slug))
        path = self.report_path(slug)
        write_private(path, html)
        return path


def write_private(path: Path, text: str) -> None:
    """Write through a temporary file and rename: a crash never leaves half a file."""
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    private_file(partial)
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def read_results(path: Path) -> EvalRun:
    """A results file (a stored run or one written with --json); ConfigError when it is not."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return EvalRun.from_json(data)
    except OSError as err:
        raise ConfigError(f"cannot read eval results {path}: {err.strerror or err}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ConfigError(
            f"{path} is not a personae eval results file ({type(err).__name__}: {err}); "
            "give a file written by `personae eval --json`, or delete it to start a new baseline"
        ) from None
