"""P4 (memory part) — recall latency for one turn with 100,000 memories for the person.

A fresh SQLite store gets 100,000 memories for one person × persona: real conversation turns
(LoCoMo's 5,882, drawn at random, so the full-text index has real word frequencies) with
random unit vectors (embedding 100,000 texts would take an hour here, and cosine cost does not
depend on the values). Queries are LoCoMo questions. Then MemorySource.blocks — the whole
per-turn recall: settings read,
full-text ranking over the kept postings, the query's embedding by the shipped MiniLM (its
int8 query graph, as the product's process embedder), cosine over all 100,000 vectors,
fusion, the chosen rows read and rendered — runs for varied queries, after one
warm-up that loads the person's vectors and postings into the process cache (``cold_ms``).
``p95_ms`` is the figure.
Then ``--writes`` turns each store two memories (as a turn's memory job does) before a recall:
``after_write_ms`` (median) is a recall that first brings the kept vectors up to date.

    .venv/bin/python bench/recall_memory_latency.py --data ../shared/data/locomo \
        --json bench/results/recall_memory.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from _common import machine_info, print_table, verdict, write_json
from personae.embed import DIM
from personae.embed.shared import process_embedder
from personae.memory.service import MemoryService
from personae.memory.source import MemorySource
from personae.stores.memory import MemoryStore
from personae.stores.sql import SqlStore
from personae.types import ContextRequest, Persona, PersonRef
from personae.types.memory import NewMemory

TARGET_MS = 20.0


def locomo_texts(folder: Path) -> tuple[list[str], list[str]]:
    data = json.loads((folder / "locomo10.json").read_text())
    turns, questions = [], []
    for sample in data:
        conv = sample["conversation"]
        n = 1
        while f"session_{n}" in conv:
            turns += [f"{t['speaker']}: {t.get('text', '')}" for t in conv[f"session_{n}"]]
            n += 1
        questions += [q["question"] for q in sample["qa"]]
    return turns, questions


async def fill(memory: MemoryStore, slug: str, person: str, count: int, texts: list[str]) -> None:
    rng = np.random.default_rng(7)
    pick = random.Random(7)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    batch = 2000
    for first in range(0, count, batch):
        vectors = rng.standard_normal((min(batch, count - first), DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        items = []
        for row in vectors:
            text = pick.choice(texts)
            items.append((NewMemory("episode", text, None, 0.3), row.tobytes()))
        said = start + timedelta(minutes=first)
        await memory.add(slug, person, None, said, items)


async def fill_turn(memory: MemoryStore, slug: str, person: str, turn: int) -> None:
    """One turn's memories: the person's message and the reply, as the memory job stores them."""
    rng = np.random.default_rng(1000 + turn)
    vectors = rng.standard_normal((2, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    said = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=turn)
    items = [
        (NewMemory("episode", f"p: a new message {turn}", None, 0.3), vectors[0].tobytes()),
        (NewMemory("episode", f"R: a reply {turn}", None, 0.3), vectors[1].tobytes()),
    ]
    await memory.add(slug, person, None, said, items)


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="personae-recall-") as tmp:
        store = await SqlStore.open(f"sqlite+aiosqlite:///{Path(tmp) / 'recall.db'}")
        try:
            slug = "recall-bench"
            await store.put_persona(
                Persona.model_validate({"id": slug, "name": "R", "greeting": "Hi"})
            )
            person = (await store.open_conversation(slug, PersonRef("bench", "p"))).person_id
            memory_store = MemoryStore(store.runner)
            texts, queries = locomo_texts(args.data)
            random.Random(3).shuffle(queries)
            started = time.perf_counter()
            await fill(memory_store, slug, person, args.memories, texts)
            fill_s = time.perf_counter() - started
            service = MemoryService(memory_store, process_embedder())
            source = MemorySource(service)

            record = await store.get_persona(slug)

            def turn(text: str) -> ContextRequest:
                return ContextRequest(record.persona, text, person_id=person, conversation_id="c")

            first = time.perf_counter()
            await source.blocks(turn(queries[-1]))  # loads the vectors into the cache
            cold_ms = (time.perf_counter() - first) * 1000
            times, cpu = [], []
            for i in range(args.turns):
                query = queries[i % len(queries)]
                t, c = time.perf_counter(), time.process_time()
                blocks = await source.blocks(turn(query))
                times.append((time.perf_counter() - t) * 1000)
                cpu.append((time.process_time() - c) * 1000)
                assert blocks and blocks[0].text
            # A live conversation writes between recalls: each turn's memory job adds its
            # messages, and the next recall sees them (the kept vectors brought up to date).
            after_write = []
            for i in range(args.writes):
                await fill_turn(memory_store, slug, person, i)
                t = time.perf_counter()
                await source.blocks(turn(queries[i % len(queries)]))
                after_write.append((time.perf_counter() - t) * 1000)
        finally:
            await store.aclose()
    times.sort()
    p50 = statistics.median(times)
    p95 = times[int(0.95 * (len(times) - 1))]
    # CPU time of the process (all its threads) per recall: what a recall costs, without the
    # waits for a core that a shared machine adds to wall time.
    cpu_ms = statistics.fmean(cpu)
    after_ms = statistics.median(after_write) if after_write else 0.0
    print_table(
        ["memories", "turns", "fill_s", "cold_ms", "p50_ms", "p95_ms", "cpu_ms",
         "after_write_ms", "target"],
        [[args.memories, args.turns, round(fill_s, 1), round(cold_ms, 1), round(p50, 2),
          round(p95, 2), round(cpu_ms, 2), round(after_ms, 1),
          f"p95 <= {TARGET_MS:g} ms: {verdict(p95 <= TARGET_MS)}"]],
    )  # fmt: skip
    write_json(args.json, {
        "figure": "P4 memory recall latency", "memories": args.memories, "turns": args.turns,
        "p50_ms": round(p50, 2), "p95_ms": round(p95, 2), "cold_ms": round(cold_ms, 1),
        "cpu_ms": round(cpu_ms, 2), "after_write_ms": round(after_ms, 1), "writes": args.writes,
        "fill_s": round(fill_s, 1), "machine": machine_info(),
    })  # fmt: skip


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", type=Path, default=None, help="write the result as JSON here")
    p.add_argument("--data", type=Path, required=True, help="folder holding locomo10.json")
    p.add_argument("--memories", type=int, default=100_000)
    p.add_argument("--turns", type=int, default=200)
    p.add_argument(
        "--writes", type=int, default=10, help="turns storing 2 memories before a recall each"
    )
    asyncio.run(main(p.parse_args()))
