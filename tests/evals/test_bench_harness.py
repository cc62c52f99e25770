"""bench/personagym.py and bench/incharacter.py end to end: the scripted engine answers through
the turn path, a real loopback OpenAI-compatible judge answers in each rubric's format, and the
scores are parsed and computed from what it said."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .judge_server import closed_port_url, judge_server

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"no benchmark data at {DATA}")


def run_bench(
    script: str, judge_url: str, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERSONAE_")}
    env.update(PERSONAE_JUDGE_BASE_URL=judge_url, PERSONAE_JUDGE_MODEL="judge-1")
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--engine", "scripted", *args,
         "--json", str(tmp_path / "out.json")],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip


def personagym_judge(body: dict[str, Any]) -> str:
    prompt = body["messages"][-1]["content"]
    if "generate an example" in prompt:
        return "Score 1:  Response - No.\n\nScore 5:  Response - A thoughtful answer."
    count = len(re.findall(r"Rubric \(\d+\):", prompt))
    # Item 2 of each batch gets no score: the paper drops such answers.
    parts = [
        f"({n}) Evaluation: "
        + (
            "I cannot tell."
            if n == 2
            else f"Consistent. Therefore, the final score is {n % 5 + 1}."
        )
        for n in range(1, count + 1)
    ]
    return "\n".join(parts)


def test_personagym_scores_with_the_paper_rubrics(tmp_path: Path) -> None:
    with judge_server(personagym_judge) as judge:
        done = run_bench("personagym.py", judge.url, tmp_path,
                         "--limit", "1", "--tasks", "2", "--questions", "5")  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["answers"] == 10 and result["dropped_unscored"] == 2
    # Scores 2, 4, 5, 1 (item 2 dropped) in each task: mean 3.0.
    assert result["scores"]["Expected Action"] == 3.0
    assert result["scores"]["Toxicity Control"] == 3.0
    assert result["scores"]["PersonaScore"] == 3.0
    assert result["published"]["gpt_35"]["PersonaScore"] == 4.38
    grading = [
        r for r in judge.requests
        if r["messages"][-1]["content"].startswith("You are given several rubrics")
    ]  # fmt: skip
    assert len(grading) == 2 and all(r["model"] == "judge-1" for r in judge.requests)
    # The answers came through the turn path (scripted engine: "echo: <question>").
    first = result["replies"][0]
    assert (
        "echo: " in first["reply"]  # after the AI disclosure the guard opens a first reply with
        and first["question"] in grading[0]["messages"][-1]["content"]
    )
    assert "PersonaScore" in done.stdout and "claude_3.5_sonnet (paper)" in done.stdout


def incharacter_judge(body: dict[str, Any]) -> str:
    prompt = body["messages"][-1]["content"]
    samples = json.loads(prompt[prompt.index("\n\n{") + 2 :])
    choices = {"1": 5, "2": 5, "3": "x", "4": 2}
    return "Here you go:\n" + json.dumps({k: choices[k] for k in samples})


def test_incharacter_turns_answers_into_scale_scores(tmp_path: Path) -> None:
    with judge_server(incharacter_judge) as judge:
        done = run_bench("incharacter.py", judge.url, tmp_path,
                         "--personas", "cooking-coach", "--items", "4", "--batch", "2")  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "out.json").read_text())
    coach = result["personas"]["cooking-coach"]
    # Item 2 (Agreeableness) is reverse-keyed: 6 - 5 = 1; item 3 was refused ("x").
    assert coach["scores"] == {"Extraversion": 5.0, "Agreeableness": 1.0, "Neuroticism": 2.0}
    assert coach["matches"] == {"Extraversion": True, "Agreeableness": False, "Neuroticism": True}
    assert round(result["accuracy_pct"], 1) == 66.7 and coach["unscored_items"] == 1
    assert len(judge.requests) == 2  # 4 items in batches of 2
    assert "Are you talkative?" in coach["conversations"]["1"]


def test_a_judge_that_is_down_stops_the_bench_with_a_message(tmp_path: Path) -> None:
    done = run_bench("incharacter.py", closed_port_url(), tmp_path,
                     "--personas", "cooking-coach", "--items", "1")  # fmt: skip
    assert done.returncode != 0 and "unreachable" in done.stderr
