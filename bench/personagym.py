"""PersonaGym (Samuel et al., arXiv 2407.18416; data MIT, ../shared/data/personagym): its persona
descriptions become personae personas, its questions go through personae's own turn path, and the
configured judge (PERSONAE_JUDGE_BASE_URL, any OpenAI-compatible server) scores the answers with
the paper's rubrics and grading prompt, side by side with the published scores.

As in the paper's run.py: for each persona and task, first the judge writes example answers for
scores 1-5 of each question (``--no-examples`` skips that), then it grades the answers in batches
of five ("(1) Evaluation: ... Therefore, the final score is N"); answers it gives no score for
are dropped; a task's score is the mean; PersonaScore is the mean of the five tasks. The paper used
two judges (gpt-4o and Llama-3-70B); one judge here, so compare with care. The persona answers with
personae's own system prompt (not the paper's "Adopt the identity of ...").

    PERSONAE_JUDGE_BASE_URL=http://127.0.0.1:8080/v1 \\
        .venv/bin/python bench/personagym.py --limit 5 --json bench/results/personagym.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import fresh_home, parser, print_table, settings_for, write_json
from personae.evals.judge import Judge, JudgeFailed, parse_score
from personae.evals.runner import converse
from personae.runtime import Runtime
from personae.types import Persona

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "personagym"
TASKS = ("Expected Action", "Toxicity", "Linguistic Habits", "Persona Consistency",
         "Action Justification")  # fmt: skip
PUBLISHED_NAMES = {"Toxicity": "Toxicity Control"}  # the scores files' name for the task
BATCH = 5
_ITEM = re.compile(r"\(\s*(\d+)\s*\)\s*Evaluation\s*:", re.I)


@dataclass(frozen=True)
class Answer:
    persona: str
    task: str
    question: str
    reply: str


def load_data(folder: Path) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """The persona descriptions, each task's rubric and the prompts (grading, examples)."""
    personas = json.loads((folder / "personas.json").read_text())["benchmark_personas"]
    rubrics = {task: (folder / "rubrics" / f"{task}.txt").read_text() for task in TASKS}
    prompts = {
        "grade_system": (folder / "prompts/rubric_grading/sys_prompt.txt").read_text(),
        "grade": (folder / "prompts/rubric_grading/prompt.txt").read_text(),
        "examples": (folder / "prompts/score_examples/prompt.txt").read_text(),
    }
    return personas, rubrics, prompts


def questions_of(folder: Path, description: str) -> dict[str, list[str]]:
    path = folder / "questions" / "benchmark-v1" / f"{description}.json"
    data: dict[str, list[str]] = json.loads(path.read_text())
    return data


def persona_of(index: int, description: str) -> Persona:
    """A PersonaGym description as a personae persona: the sentence is who it is."""
    who = re.sub(r"^(an?|the)\s+", "", description.strip(), flags=re.I).split(",")[0]
    return Persona(
        id=f"personagym-{index:03d}",
        name=(who[:1].upper() + who[1:])[:80],
        description=description,
        greeting="Hello.",
    )


def fill(template: str, **values: str) -> str:
    """The paper's templates use {name} slots; replaced literally (answers may hold braces)."""
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template


def batch_scores(text: str, count: int) -> list[float | None]:
    """The score of each numbered evaluation in a graded batch; None where it gave none."""
    marks = list(_ITEM.finditer(text))
    found: dict[int, float | None] = {}
    for at, mark in enumerate(marks):
        end = marks[at + 1].start() if at + 1 < len(marks) else len(text)
        found[int(mark.group(1))] = parse_score(text[mark.end() : end])
    if not marks and count == 1:
        found[1] = parse_score(text)
    return [found.get(number) for number in range(1, count + 1)]


async def grade_task(
    judge: Judge,
    description: str,
    task: str,
    answers: list[Answer],
    rubric: str,
    prompts: dict[str, str],
    examples: bool,
) -> list[float | None]:
    scores: list[float | None] = []
    for start in range(0, len(answers), BATCH):
        batch = answers[start : start + BATCH]
        filled = []
        for answer in batch:
            example = "(none)"
            if examples:
                ask = fill(prompts["examples"], persona=description, question=answer.question,
                           rubric=fill(rubric, score_example="", persona=description,
                                       question=answer.question, response=""))  # fmt: skip
                example = await judge.complete(prompts["grade_system"], ask)
            filled.append(fill(rubric, persona=description, question=answer.question,
                               response=answer.reply, score_example=example))  # fmt: skip
        body = "\n\n".join(f"Rubric ({n}):\n{text}" for n, text in enumerate(filled, start=1))
        text = await judge.complete(prompts["grade_system"], fill(prompts["grade"], rubrics=body))
        scores += batch_scores(text, len(batch))
    return scores


def published(folder: Path) -> dict[str, dict[str, float]]:
    rows = {}
    for path in sorted((folder / "evaluations").glob("*/scores.json")):
        rows[path.parent.name.split("_", 1)[1]] = json.loads(path.read_text())
    return rows


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    descriptions, rubrics, prompts = load_data(args.data)
    chosen = list(enumerate(descriptions))[: args.limit]
    tasks = TASKS[: args.tasks]
    with fresh_home() as home:
        settings = settings_for(home, args, load_samples=False)
        judge = Judge.from_settings(settings)
        if judge is None:
            raise SystemExit("set PERSONAE_JUDGE_BASE_URL (an OpenAI-compatible judge) first")
        runtime = await Runtime.start(settings)
        try:
            answers: list[Answer] = []
            for index, description in chosen:
                persona = persona_of(index, description)
                await runtime.store.put_persona(persona)
                questions = questions_of(args.data, description)
                for task in tasks:
                    for question in questions[task][: args.questions]:
                        reply = (await converse(runtime.turns, persona.id, [question], args.seed))[
                            0
                        ]
                        answers.append(Answer(persona.id, task, question, reply))
            per_task: dict[str, list[float]] = {task: [] for task in tasks}
            dropped = 0
            for index, description in chosen:
                for task in tasks:
                    mine = [a for a in answers if a.persona == persona_of(index, description).id
                            and a.task == task]  # fmt: skip
                    try:
                        scores = await grade_task(judge, description, task, mine, rubrics[task],
                                                  prompts, args.examples)  # fmt: skip
                    except JudgeFailed as err:
                        raise SystemExit(f"error: {err}") from None
                    dropped += sum(s is None for s in scores)
                    per_task[task] += [s for s in scores if s is not None]
        finally:
            await judge.aclose()
            await runtime.aclose()
    task_scores = {
        PUBLISHED_NAMES.get(t, t): (statistics.mean(v) if v else None) for t, v in per_task.items()
    }
    known = [v for v in task_scores.values() if v is not None]
    return {
        "personas": len(chosen),
        "answers": len(answers),
        "dropped_unscored": dropped,
        "judge": judge.label,
        "scores": {**task_scores, "PersonaScore": statistics.mean(known) if known else None},
        "published": published(args.data),
        "replies": [a.__dict__ for a in answers],
    }


def main() -> None:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DATA, help="the PersonaGym data folder")
    p.add_argument("--limit", type=int, default=5, help="personas (of 200, in file order)")
    p.add_argument("--tasks", type=int, default=len(TASKS), help="first N of the five tasks")
    p.add_argument("--questions", type=int, default=10, help="questions per task (of 10)")
    skip = "skip the judge's score examples (fewer calls; not the paper's method)"
    p.add_argument("--no-examples", dest="examples", action="store_false", help=skip)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    result = asyncio.run(measure(args))
    columns = [*(PUBLISHED_NAMES.get(t, t) for t in TASKS), "PersonaScore"]
    rows: list[list[object]] = [
        [f"personae ({args.engine})", *(_num(result["scores"].get(c)) for c in columns)]
    ]
    for model, scores in result["published"].items():
        rows.append([f"{model} (paper)", *(_num(scores.get(c)) for c in columns)])
    print_table(["model", *columns], rows)
    unscored = result["dropped_unscored"]
    print(f"{result['answers']} answers of {result['personas']} personas; "
          f"{unscored} left unscored by the judge ({result['judge']})")  # fmt: skip
    write_json(args.json, result)


def _num(value: object) -> object:
    return round(value, 2) if isinstance(value, float) else ("" if value is None else value)


if __name__ == "__main__":
    main()
