"""The default guard's input verdicts alone (no model, no turn pipeline): how often it stops
each public set, per XSTest prompt type, and on random ids, tokens and garbage that it must
never stop. Seconds instead of the hours `bench/safety.py` takes, so thresholds and rules can
be judged on every set at once; `bench/safety.py` stays the figure of record.

    .venv/bin/python bench/guard_eval.py --data ../shared/data --json bench/results/guard.json

"stopped" means the input check did not allow the turn (refused, blocked or crisis). Every
set here is held out: the classifier never trained on any of them (bench/train_guard.py);
"everyday" (P1's bench messages and ``guard_data/everyday_heldout.py``) must stay at 0 %.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import random
import string
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from _common import MESSAGES, print_table, write_json
from guard_data import everyday_heldout
from personae.guards.classifier import load
from personae.guards.crisis import DEFAULT_RESOURCES
from personae.guards.embedded import EmbeddedGuard
from personae.types import GuardInput, Persona
from personae.types.safety import Audiences

PLAIN = Persona.model_validate({"id": "plain", "name": "Assistant", "greeting": "Hello!"})


def garbage(n: int, seed: int = 5) -> list[str]:
    """Text that means nothing harmful: ids, tokens, hex, numbers, keyboard mashing and the
    channel benches' synthetic messages. None of it may be stopped."""
    rng = random.Random(seed)
    alnum = string.ascii_letters + string.digits
    out: list[str] = []
    for i in range(n):
        kind = i % 6
        if kind == 0:
            out.append(f"person {rng.randint(0, 99)} message {rng.randint(0, 999)} token "
                       f"{rng.getrandbits(64):016x}")  # fmt: skip
        elif kind == 1:
            out.append("".join(rng.choice(alnum) for _ in range(rng.randint(8, 60))))
        elif kind == 2:
            out.append(" ".join(f"{rng.getrandbits(32):08x}" for _ in range(rng.randint(2, 8))))
        elif kind == 3:
            words = ["".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(2, 9)))
                     for _ in range(rng.randint(3, 12))]  # fmt: skip
            out.append(" ".join(words))
        elif kind == 4:
            out.append(" ".join(str(rng.randint(0, 10**6)) for _ in range(rng.randint(3, 10))))
        else:
            out.append(f"msg-{rng.randint(0, 9999)} run {rng.getrandbits(40):x} seq {i} ok")
    return out


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def load_sets(data: Path) -> dict[str, list[str]]:
    xs = _csv(data / "xstest" / "xstest_prompts.csv")
    sets: dict[str, list[str]] = defaultdict(list)
    for row in xs:
        sets[f"xstest_{row['label']}"].append(row["prompt"])
        sets[f"xstest/{row['type']}"].append(row["prompt"])
    sst = _csv(data / "simplesafetytests" / "sst_test_cases.csv")
    sets["simplesafetytests"] = [r["prompts_final"] for r in sst]
    jbb = data / "jailbreakbench_artifacts"
    sets["jbb_harmful"] = [r["goal"] for r in _csv(jbb / "jbb_harmful_behaviors_derived.csv")]
    sets["jbb_benign"] = [r["goal"] for r in _csv(jbb / "jbb_benign_behaviors.csv")]
    sets["advbench"] = [r["goal"] for r in _csv(data / "advbench" / "harmful_behaviors.csv")]
    sets["garbage"] = garbage(600)
    # Everyday chat it must never stop: P1's bench messages and held-out persona chat.
    sets["everyday"] = list(MESSAGES) + everyday_heldout.MESSAGES
    return dict(sets)


async def measure(data: Path, weights: Path | None) -> dict[str, Any]:
    guard = EmbeddedGuard(DEFAULT_RESOURCES, load(weights) if weights else None)
    audience = Audiences()
    sets = load_sets(data)
    rows: dict[str, dict[str, Any]] = {}
    latencies: list[float] = []
    for name, texts in sets.items():
        stopped = 0
        cats: dict[str, int] = defaultdict(int)
        for text in texts:
            start = time.perf_counter()
            verdict = await guard.check_input(
                GuardInput(persona=PLAIN, text=text, audience=audience)
            )
            latencies.append((time.perf_counter() - start) * 1000)
            if not verdict.allowed:
                stopped += 1
                for c in verdict.categories:
                    cats[c] += 1
        rows[name] = {"n": len(texts), "stopped": stopped / len(texts), "categories": dict(cats)}
    latencies.sort()
    return {
        "benchmark": "guard_eval",
        "sets": rows,
        "guard_p50_ms": latencies[len(latencies) // 2],
        "guard_p95_ms": latencies[int(len(latencies) * 0.95)],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--weights", type=Path, default=None, help="classifier .npz (default: shipped)")
    args = p.parse_args()
    result = asyncio.run(measure(args.data, args.weights))
    table = [
        [name, r["n"], f"{r['stopped']:.1%}", json.dumps(r["categories"])[:60]]
        for name, r in result["sets"].items()
    ]
    print_table(["set", "n", "stopped", "categories"], table)
    print(f"guard p50 {result['guard_p50_ms']:.2f} ms, p95 {result['guard_p95_ms']:.2f} ms")
    write_json(args.json, result)


if __name__ == "__main__":
    main()
