"""InCharacter (Wang et al., ACL 2024, arXiv 2310.17976; data MIT, ../shared/data/incharacter):
a psychological questionnaire given to personae personas as an interview, through personae's own
turn path; the configured judge (PERSONAE_JUDGE_BASE_URL) turns each answer into the scale's
choice with the paper's own prompts, and the dimension scores are compared with the levels the
persona declares.

The paper's method (interview, then "convert_to_choice" by an LLM, batches of items): each item's
interview question (``rewritten_en``) is asked in a fresh conversation; the judge gets the
statement and the conversation and answers a JSON dict of choices ("x": refused, dropped);
reverse-keyed items count ``scale - choice``; a dimension is the mean of its items. A persona
declares its expected levels under ``extensions.incharacter.<scale>`` (``H`` or ``L`` per
dimension, as InCharacter's labels do); the level is H above the scale's midpoint. The paper's
role-play agents reach up to 80.7 % accuracy against human labels (32 fictional characters; their
role-play corpora are not in the data, so the sample personas are measured here instead).

    PERSONAE_JUDGE_BASE_URL=http://127.0.0.1:8080/v1 \\
        .venv/bin/python bench/incharacter.py --scale BFI --json bench/results/incharacter.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
from pathlib import Path
from typing import Any

from _common import SAMPLE_PERSONAS, fresh_home, parser, print_table, settings_for, write_json
from personae.evals.judge import Judge, JudgeFailed
from personae.evals.runner import converse
from personae.runtime import Runtime

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "incharacter"
PUBLISHED_ACCURACY = 80.7  # % of dimensions, best role-play agent in the paper (abstract)
_DICT = re.compile(r"\{[^{}]*\}", re.S)


def load_scale(folder: Path, name: str) -> dict[str, Any]:
    path = folder / "questionnaires" / f"{name}.json"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in (folder / "questionnaires").glob("*.json")))
        raise SystemExit(f"no questionnaire {name!r} in {path.parent}; one of: {known}")
    scale: dict[str, Any] = json.loads(path.read_text())
    return scale


def parse_choices(text: str, keys: list[str], low: float, high: float) -> dict[str, float | None]:
    """The judge's dict of choices: a number in the scale's range, or None ("x", missing)."""
    found: dict[str, float | None] = dict.fromkeys(keys)
    for block in _DICT.findall(text):
        try:
            data = json.loads(block)
        except json.JSONDecodeError:
            continue
        if not isinstance(data, dict):
            continue
        for key in keys:
            value = data.get(key)
            if (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and low <= value <= high
            ):
                found[key] = float(value)
    return found


def dimension_scores(scale: dict[str, Any], choices: dict[str, float | None]) -> dict[str, float]:
    reverse = {str(n) for n in scale["reverse"]}
    result = {}
    for category in scale["categories"]:
        values = []
        for number in category["cat_questions"]:
            choice = choices.get(str(number))
            if choice is not None:
                values.append(scale["scale"] - choice if str(number) in reverse else choice)
        if values:
            result[category["cat_name"]] = statistics.mean(values)
    return result


def level(scale: dict[str, Any], score: float) -> str:
    low, high = scale["range"]
    return "H" if score > (low + high) / 2 else "L"


async def interview(
    runtime: Runtime, slug: str, name: str, scale: dict[str, Any], items: list[str], seed: int
) -> dict[str, str]:
    """Each item's question in its own conversation; the conversation as the judge reads it."""
    conversations = {}
    for number in items:
        question = scale["questions"][number]["rewritten_en"]
        reply = (await converse(runtime.turns, slug, [question], seed))[0]
        conversations[number] = f'Interviewer: "{question}"\n{name}: "{reply}"'
    return conversations


async def convert(
    judge: Judge,
    scale: dict[str, Any],
    name: str,
    conversations: dict[str, str],
    batch: int,
) -> dict[str, float | None]:
    prompts = scale["prompts"]
    instruction = (
        prompts["convert_to_choice"]["en"] + prompts["llm_choice_instruction"]["en"]
    ).replace("<character>", name)
    low, high = scale["range"]
    choices: dict[str, float | None] = {}
    keys = list(conversations)
    for start in range(0, len(keys), batch):
        part = keys[start : start + batch]
        samples = {
            k: {"statement": scale["questions"][k]["origin_en"], "conversation": conversations[k]}
            for k in part
        }
        ask = (
            instruction.replace("<i_start>", part[0]).replace("<i_end>", part[-1])
            + "\n\n"
            + json.dumps(samples, ensure_ascii=False, indent=1)
        )
        text = await judge.complete("You are a careful psychologist.", ask)
        choices.update(parse_choices(text, part, low, high))
    return choices


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    scale = load_scale(args.data, args.scale)
    items = sorted(scale["questions"], key=int)[: args.items]
    per_persona: dict[str, Any] = {}
    with fresh_home() as home:
        settings = settings_for(home, args)
        judge = Judge.from_settings(settings)
        if judge is None:
            raise SystemExit("set PERSONAE_JUDGE_BASE_URL (an OpenAI-compatible judge) first")
        runtime = await Runtime.start(settings)
        try:
            for slug in args.personas:
                persona = (await runtime.store.get_persona(slug)).persona
                conversations = await interview(
                    runtime, slug, persona.name, scale, items, args.seed
                )
                try:
                    choices = await convert(judge, scale, persona.name, conversations, args.batch)
                except JudgeFailed as err:
                    raise SystemExit(f"error: {err}") from None
                scores = dimension_scores(scale, choices)
                declared = persona.extensions.get("incharacter", {}).get(args.scale, {})
                matches = {
                    dim: level(scale, score) == str(declared[dim]).upper()
                    for dim, score in scores.items()
                    if dim in declared
                }
                per_persona[slug] = {
                    "scores": scores,
                    "levels": {dim: level(scale, s) for dim, s in scores.items()},
                    "declared": declared,
                    "matches": matches,
                    "unscored_items": sum(v is None for v in choices.values()),
                    "conversations": conversations,
                }
        finally:
            await judge.aclose()
            await runtime.aclose()
    compared = [ok for p in per_persona.values() for ok in p["matches"].values()]
    return {
        "scale": args.scale,
        "items": len(items),
        "judge": judge.label,
        "accuracy_pct": 100.0 * sum(compared) / len(compared) if compared else None,
        "dimensions_compared": len(compared),
        "published_accuracy_pct": PUBLISHED_ACCURACY,
        "personas": per_persona,
    }


def main() -> None:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DATA, help="the InCharacter data folder")
    p.add_argument("--scale", default="BFI", help="questionnaire: BFI, 16Personalities, ...")
    p.add_argument("--personas", default=",".join(SAMPLE_PERSONAS), help="comma-separated ids")
    p.add_argument("--items", "--limit", type=int, default=1000, help="first N items of the scale")
    p.add_argument("--batch", type=int, default=8, help="items per judge call")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    args.personas = [slug for slug in args.personas.split(",") if slug]
    result = asyncio.run(measure(args))
    dims = [c["cat_name"] for c in load_scale(args.data, args.scale)["categories"]]
    rows = []
    for slug, found in result["personas"].items():
        cells = []
        for dim in dims:
            score = found["scores"].get(dim)
            mark = {True: " ✓", False: " ✗"}.get(found["matches"].get(dim), "")
            cells.append("" if score is None else f"{score:.2f} {found['levels'][dim]}{mark}")
        rows.append([slug, *cells])
    print_table(["persona", *dims], rows)
    accuracy = result["accuracy_pct"]
    shown = "n/a (no persona declares levels)" if accuracy is None else f"{accuracy:.1f} %"
    compared = result["dimensions_compared"]
    print(f"accuracy against declared levels: {shown} of {compared} dimensions; "
          f"paper: up to {PUBLISHED_ACCURACY} % (judge: {result['judge']})")  # fmt: skip
    write_json(args.json, result)


if __name__ == "__main__":
    main()
