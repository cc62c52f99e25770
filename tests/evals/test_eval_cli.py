"""`personae eval`: every sample's suite, baselines and regressions, eval files with mistakes,
the judge (a real loopback OpenAI-compatible server) up and down. Scripted engine: the
machinery is under test here; tests/eval/test_samples_eval.py runs the suites on the model."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from personae.cli import app
from personae.core.personas import load_persona_dir

from .judge_server import closed_port_url, judge_server

SAMPLES = ("cooking-coach", "spanish-tutor", "travel-planner", "tech-support-friend")
Invoke = Callable[..., Result]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str | None]:
    found: dict[str, str | None] = {k: None for k in os.environ if k.startswith("PERSONAE_")}
    found.update(
        PERSONAE_HOME=str(tmp_path / "home"),
        PERSONAE_ENGINE="scripted",
        COLUMNS="200",
        NO_COLOR="1",
    )
    return found


@pytest.fixture
def invoke(env: dict[str, str | None]) -> Invoke:
    def run(*args: str, **extra: str) -> Result:
        return CliRunner().invoke(app, ["eval", *args], env={**env, **extra})

    return run


def persona_file(folder: Path, tests: list[dict[str, Any]], name: str = "echo.yaml") -> Path:
    folder.mkdir(exist_ok=True)
    data = {"id": "echo-helper", "name": "Tess", "greeting": "Hello!", "tests": tests}
    path = folder / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize("slug", SAMPLES)
def test_every_sample_persona_runs_its_suite(invoke: Invoke, tmp_path: Path, slug: str) -> None:
    out = tmp_path / "results.json"
    done = invoke(slug, "--json", str(out), "--report", str(tmp_path / "r.html"))
    assert done.exit_code == 0, done.output
    results = json.loads(out.read_text())
    names = [case["name"] for case in results["cases"]]
    own = [case for case in results["cases"] if case["kind"] == "persona"]
    assert len(own) >= 2, "every sample persona carries its own test cases"
    assert {"builtin ai-disclosure", "builtin identity"} <= set(names)
    assert all(case["replies"] for case in results["cases"])
    judged = [c for case in own for c in case["checks"] if c["check"] == "judge"]
    assert judged and {c["status"] for c in judged} == {"skip"}  # no judge configured
    assert "first run: stored as the baseline" in done.output
    html = (tmp_path / "r.html").read_text()
    assert "<svg" in html and "<rect" in html  # charts drawn inline
    assert not any(tag in html for tag in ("<script", " src=", "<link", "href="))  # nothing fetched


def test_a_regression_exits_3_and_keeps_the_baseline(invoke: Invoke, tmp_path: Path) -> None:
    passing = [{"name": "echoes", "message": "hello there", "expect": {"must_mention": ["echo"]}}]
    path = persona_file(tmp_path / "files", passing)
    assert invoke(str(path)).exit_code == 0
    assert invoke(str(path)).exit_code == 0  # same revision, nothing regressed

    failing = [{"name": "echoes", "message": "hello there", "expect": {"must_mention": ["zebra"]}}]
    persona_file(tmp_path / "files", failing)  # revision 2
    done = invoke(str(path))
    assert done.exit_code == 3, done.output
    assert "1 regression(s) against baseline" in done.output
    assert "missing 'zebra'" in done.output
    assert invoke(str(path)).exit_code == 3  # a regressed run does not become the baseline
    assert invoke(str(path), "--against", "1").exit_code == 3
    missing = invoke(str(path), "--against", "7")
    assert missing.exit_code == 1
    assert "no persona with id 'echo-helper revision 7'" in missing.output or "7" in missing.output


def test_strict_fails_on_any_failed_check(invoke: Invoke, tmp_path: Path) -> None:
    failing = [{"name": "never", "message": "hi", "expect": {"must_mention": ["zebra"]}}]
    path = persona_file(tmp_path / "files", failing)
    assert invoke(str(path), "--no-builtins").exit_code == 0  # a first run: nothing to regress
    assert invoke(str(path), "--no-builtins", "--strict").exit_code == 3


def test_a_results_file_is_a_baseline_for_ci(invoke: Invoke, tmp_path: Path) -> None:
    good = [{"name": "echoes", "message": "hi", "expect": {"must_mention": ["echo"]}}]
    path = persona_file(tmp_path / "files", good)
    committed = tmp_path / "baseline.json"
    assert invoke(str(path), "--json", str(committed)).exit_code == 0
    bad = [{"name": "echoes", "message": "hi", "expect": {"must_mention": ["zebra"]}}]
    persona_file(tmp_path / "files", bad)
    fresh = {"PERSONAE_HOME": str(tmp_path / "ci-home")}  # CI: an empty data folder
    done = invoke(str(path), "--baseline", str(committed), **fresh)
    assert done.exit_code == 3, done.output
    other = tmp_path / "other.json"
    assert invoke("cooking-coach", "--json", str(other), **fresh).exit_code == 0
    wrong = invoke(str(path), "--baseline", str(other), **fresh)
    assert wrong.exit_code == 1 and "holds results of persona 'cooking-coach'" in wrong.output
    committed.write_text("{not json")
    broken = invoke(str(path), "--baseline", str(committed), **fresh)
    assert broken.exit_code == 1 and "is not a personae eval results file" in broken.output


def test_an_eval_file_with_mistakes_gets_persona_file_errors(
    invoke: Invoke, tmp_path: Path
) -> None:
    path = persona_file(tmp_path / "files", [])
    beside = tmp_path / "files" / "echo.eval.yaml"
    beside.write_text(
        "tests:\n"
        "  - name: one\n    message: hi\n    expect: {must_mentoin: [x]}\n"
        "  - name: two\n    message: hi\n    expect: {matches: ['(unclosed']}\n"
        "  - name: three\n    message: hi\n    expect: {min_chars: 9, max_chars: 2}\n"
    )
    done = invoke(str(path))
    assert done.exit_code == 2
    assert f"{beside}: tests.0.expect.must_mentoin: unknown key 'must_mentoin'" in done.output
    assert "did you mean 'must_mention'?" in done.output
    assert (
        "tests.1.expect.matches" in done.output and "not a valid regular expression" in done.output
    )
    assert "min_chars (9) is above max_chars (2)" in done.output
    beside.write_text("tests:\n  - name: extra\n    messages: [hi, again]\n")
    assert invoke(str(path), "--no-builtins").exit_code == 0
    # The eval file is not a persona: a persona folder holding it loads, with those tests.
    [loaded] = load_persona_dir(tmp_path / "files")
    assert loaded.id == "echo-helper" and [case.name for case in loaded.tests] == ["extra"]


def test_the_judge_scores_rubrics(invoke: Invoke, tmp_path: Path) -> None:
    tests = [{"name": "kind", "message": "hello", "expect": {"rubric": "Is kind."}}]
    path = persona_file(tmp_path / "files", tests)
    verdicts = iter(
        ["Warm and clear. Therefore, the final score is 5.", "Therefore, the final score is 2."]
    )
    with judge_server(lambda _body: next(verdicts)) as judge:
        settings = {"PERSONAE_JUDGE_BASE_URL": judge.url, "PERSONAE_JUDGE_API_KEY": "jk"}
        first = invoke(str(path), "--no-builtins", **settings)
        assert first.exit_code == 0, first.output
        again = invoke(str(path), "--no-builtins", **settings)
    assert again.exit_code == 3 and "2/5, want ≥ 4" in again.output  # 5 -> 2: a regression
    assert judge.auth == ["Bearer jk", "Bearer jk"]
    assert "Is kind." in judge.prompts()[0] and "echo: hello" in judge.prompts()[0]


def test_a_judge_that_is_down_errors_only_the_judged_checks(invoke: Invoke, tmp_path: Path) -> None:
    tests = [
        {
            "name": "kind",
            "message": "hello",
            "expect": {"rubric": "Is kind.", "must_mention": ["hello"]},
        }
    ]
    path = persona_file(tmp_path / "files", tests)
    out = tmp_path / "r.json"
    done = invoke(
        str(path), "--no-builtins", "--json", str(out), PERSONAE_JUDGE_BASE_URL=closed_port_url()
    )
    assert done.exit_code == 0, done.output
    checks = {c["check"]: c for c in json.loads(out.read_text())["cases"][0]["checks"]}
    assert checks["judge"]["status"] == "error" and "unreachable" in checks["judge"]["detail"]
    assert checks["must_mention"]["status"] == "pass" and checks["clean"]["status"] == "pass"
