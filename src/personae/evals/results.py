"""What an eval run found: per case, each check's outcome; JSON in and out (the baseline)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["pass", "fail", "skip", "error"]
STATUSES: tuple[Status, ...] = ("pass", "fail", "skip", "error")
CaseKind = Literal["persona", "builtin"]
FORMAT = 1  # the results file layout; bumped when it changes


@dataclass(frozen=True, slots=True)
class CheckResult:
    check: str  # must_mention, language, clean, judge, ...
    status: Status
    detail: str = ""
    score: float | None = None  # the judge's 1-5, when it gave one


@dataclass(frozen=True, slots=True)
class CaseResult:
    name: str
    kind: CaseKind
    messages: tuple[str, ...]
    replies: tuple[str, ...]
    checks: tuple[CheckResult, ...]
    seconds: float

    @property
    def status(self) -> Status:
        found = {c.status for c in self.checks}
        for status in ("error", "fail", "pass"):
            if status in found:
                return status
        return "skip"


@dataclass(frozen=True, slots=True)
class EvalRun:
    persona: str
    revision: int
    engine: str
    model: str
    judge: str | None
    started_at: str
    cases: tuple[CaseResult, ...]

    def counts(self) -> dict[Status, int]:
        """Checks by status."""
        found: dict[Status, int] = dict.fromkeys(STATUSES, 0)
        for case in self.cases:
            for check in case.checks:
                found[check.status] += 1
        return found

    def outcomes(self) -> dict[tuple[str, str], Status]:
        """(case, check) -> status: what a baseline comparison lines up."""
        return {(case.name, c.check): c.status for case in self.cases for c in case.checks}

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "persona": self.persona,
            "revision": self.revision,
            "engine": self.engine,
            "model": self.model,
            "judge": self.judge,
            "started_at": self.started_at,
            "counts": self.counts(),
            "cases": [
                {
                    "name": case.name,
                    "kind": case.kind,
                    "status": case.status,
                    "messages": list(case.messages),
                    "replies": list(case.replies),
                    "seconds": round(case.seconds, 3),
                    "checks": [
                        {"check": c.check, "status": c.status, "detail": c.detail, "score": c.score}
                        for c in case.checks
                    ],
                }
                for case in self.cases
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EvalRun:
        """Raises KeyError, TypeError or ValueError on a file that is not a results file."""
        if data.get("format") != FORMAT:
            raise ValueError(f"results format {data.get('format')!r}, expected {FORMAT}")
        cases = tuple(
            CaseResult(
                name=str(case["name"]),
                kind=case["kind"],
                messages=tuple(case["messages"]),
                replies=tuple(case["replies"]),
                checks=tuple(
                    CheckResult(str(c["check"]), _status(c["status"]), str(c["detail"]), c["score"])
                    for c in case["checks"]
                ),
                seconds=float(case["seconds"]),
            )
            for case in data["cases"]
        )
        return cls(
            persona=str(data["persona"]),
            revision=int(data["revision"]),
            engine=str(data["engine"]),
            model=str(data["model"]),
            judge=data["judge"],
            started_at=str(data["started_at"]),
            cases=cases,
        )


def _status(value: object) -> Status:
    for status in STATUSES:
        if value == status:
            return status
    raise ValueError(f"unknown status {value!r}")


@dataclass(frozen=True, slots=True)
class Regression:
    case: str
    check: str
    was: Status
    now: Status


def regressions(baseline: EvalRun, current: EvalRun) -> list[Regression]:
    """Checks that passed in the baseline and now fail or error. New cases and checks, and
    skipped ones (no judge here), are not regressions."""
    now = current.outcomes()
    found = []
    for key, was in baseline.outcomes().items():
        status = now.get(key)
        if was == "pass" and status in ("fail", "error"):
            found.append(Regression(key[0], key[1], was, status))
    return found
