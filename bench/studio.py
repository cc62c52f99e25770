"""Studio pages: server time p95 of the persona list with 1,000 personas and of the
analytics page over 100,000 stored messages (target <= 100 ms each on 2 cores), with
GET /healthz measured in the same run as the floor of one loopback request.

The store is a real SQLite database, seeded with rows as the product writes them: 1,000
personas (one revision each, every 10th with a draft revision on top), 2,000 people in
conversations with 10 personas over 30 days, 50,000 turns (a message and its reply, with
latency, time to first token, tokens, status and guard categories) and a few thousand
ratings, then counted into the analytics rollups as migrations r0014 and r0015 do. Pages are
fetched through a real server on loopback, signed in with the admin token's studio cookie,
one request at a time.

    .venv/bin/python bench/studio.py --json bench/results/studio.json
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Connection, insert

from _common import (
    fresh_home,
    loopback_server,
    machine_info,
    parser,
    print_table,
    verdict,
    write_json,
)
from personae.runtime import Runtime
from personae.settings import Settings
from personae.stores.rollups import rebuild
from personae.stores.runner import atomic
from personae.stores.serialize import persona_to_json
from personae.stores.sql import SqlStore
from personae.stores.tables import (
    conversations,
    messages,
    people,
    persona_revisions,
    personas,
    ratings,
    turns,
)
from personae.types import Persona

PERSONAS = 1_000
PEOPLE = 2_000
TURNS = 50_000  # 100,000 messages
ACTIVE = 10  # personas with conversations
DAYS = 30
TARGET_MS = 100.0
TOKEN = "bench-admin-token"
NOW = datetime.now(UTC).replace(microsecond=0)


def seed(conn: Connection) -> None:
    rng = random.Random(7)
    start = NOW - timedelta(days=DAYS)
    with atomic(conn):
        persona_rows, revision_rows = [], []
        for i in range(PERSONAS):
            slug = f"persona-{i:04d}"
            spec = persona_to_json(
                Persona(id=slug, name=f"Persona {i}", greeting="Hello!", tagline=f"Number {i}")
            )
            drafts = 2 if i % 10 == 0 else 1
            persona_rows.append({
                "slug": slug, "current_revision": drafts, "published": True,
                "published_revision": 1, "created_at": start, "updated_at": start,
            })  # fmt: skip
            for revision in range(1, drafts + 1):
                revision_rows.append(
                    {"slug": slug, "revision": revision, "spec": spec, "created_at": start}
                )
        conn.execute(insert(personas), persona_rows)
        conn.execute(insert(persona_revisions), revision_rows)
        conn.execute(
            insert(people), [{"id": f"{p:032x}", "created_at": start} for p in range(PEOPLE)]
        )
        conv_rows = []
        for p in range(PEOPLE):
            slug = f"persona-{(p % ACTIVE):04d}"
            conv_rows.append({
                "id": f"{p:032x}", "persona_slug": slug, "person_id": f"{p:032x}",
                "channel": "web", "created_at": start, "updated_at": start,
            })  # fmt: skip
        conn.execute(insert(conversations), conv_rows)
        message_rows, turn_rows, rating_rows = [], [], []
        statuses = ["ok"] * 95 + ["refused", "blocked", "rewritten", "crisis", "failed"]
        for t in range(TURNS):
            person = rng.randrange(PEOPLE)
            at = start + timedelta(seconds=rng.randrange(DAYS * 86_400))
            inbound, reply = 2 * t + 1, 2 * t + 2
            conv = f"{person:032x}"
            status = rng.choice(statuses)
            message_rows.append({
                "id": inbound, "conversation_id": conv, "role": "user", "content": "hello",
                "channel": "web", "created_at": at,
            })  # fmt: skip
            message_rows.append({
                "id": reply, "conversation_id": conv, "role": "assistant", "content": "hi",
                "channel": "web", "created_at": at + timedelta(seconds=1),
                "reply_to": inbound,
            })  # fmt: skip
            turn_rows.append({
                "conversation_id": conv, "inbound_message_id": inbound,
                "reply_message_id": reply, "persona_revision": 1, "status": status,
                "trace": None, "created_at": at, "latency_ms": rng.uniform(50, 2_000),
                "ttft_ms": rng.uniform(10, 400), "tokens": rng.randrange(100, 900),
                "categories": "S1" if status in ("refused", "blocked") else None,
            })  # fmt: skip
            if t % 20 == 0:
                rating_rows.append({
                    "message_id": reply, "conversation_id": conv,
                    "persona_slug": f"persona-{(person % ACTIVE):04d}",
                    "value": 1 if t % 3 else -1, "source": "web", "created_at": at,
                })  # fmt: skip
        conn.execute(insert(messages), message_rows)
        conn.execute(insert(turns), turn_rows)
        conn.execute(insert(ratings), rating_rows)
        # The rows went in directly, not through the write path: count them as r0014-15 do.
        rebuild(conn)


async def timed(client: httpx.AsyncClient, path: str, rounds: int) -> dict[str, float]:
    await client.get(path)  # warm: templates compiled, caches filled
    samples = []
    for _ in range(rounds):
        began = time.perf_counter()
        answer = await client.get(path)
        samples.append((time.perf_counter() - began) * 1000)
        answer.raise_for_status()
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[max(0, int(len(samples) * 0.95) - 1)], 2),
        "rounds": rounds,
    }


async def main() -> None:
    args = parser(__doc__.split("\n\n")[0]).parse_args()
    with fresh_home() as home:
        (home / "personas").mkdir()
        settings = Settings(
            home=home, engine="scripted", admin_token=TOKEN, load_samples=False,
            personas_dir=home / "personas", log_level="warning",
        )  # fmt: skip
        store = await SqlStore.open(settings.resolved_database_url)
        began = time.perf_counter()
        await store.runner.write(seed)
        seeded_s = time.perf_counter() - began
        await store.aclose()
        runtime = await Runtime.start(settings)
        results: dict[str, Any] = {}
        try:
            async with loopback_server(settings, runtime) as url:
                cookies = {"personae_studio": TOKEN}
                async with httpx.AsyncClient(base_url=url, cookies=cookies, timeout=60) as client:
                    results["healthz (floor)"] = await timed(client, "/healthz", 50)
                    results["persona list, 1,000 personas"] = await timed(client, "/studio", 40)
                    results["persona list, search"] = await timed(client, "/studio?q=99", 40)
                    results["analytics page, all personas"] = await timed(
                        client, "/studio/analytics", 20
                    )
                    results["analytics page, one persona"] = await timed(
                        client, "/studio/analytics?persona=persona-0003", 20
                    )
                    studio = {"X-Personae-Studio": "1"}
                    await client.get("/api/analytics", headers=studio)
                    began = time.perf_counter()
                    answer = await client.get("/api/analytics", headers=studio)
                    results["api analytics (one call)"] = {
                        "p50_ms": round((time.perf_counter() - began) * 1000, 2),
                        "p95_ms": round((time.perf_counter() - began) * 1000, 2),
                        "rounds": 1,
                    }
                    totals = answer.json()["totals"]
        finally:
            await runtime.aclose()
    floor = results["healthz (floor)"]["p50_ms"]
    rows = []
    for name, figures in results.items():
        target = name.startswith(("persona list, 1,000", "analytics page, all"))
        ok = figures["p95_ms"] <= TARGET_MS
        rows.append([
            name, figures["p50_ms"], figures["p95_ms"],
            round(figures["p50_ms"] / floor, 1) if floor else "",
            f"{verdict(ok)} (<= {TARGET_MS:.0f})" if target else "",
        ])  # fmt: skip
    print(f"seeded {PERSONAS} personas, {2 * TURNS} messages in {seeded_s:.1f} s; "
          f"analytics saw {totals['messages'] + totals['replies']} messages")  # fmt: skip
    print_table(["request", "p50 ms", "p95 ms", "x healthz", "target p95"], rows)
    print(f"load average during the run: {os.getloadavg()}")
    write_json(
        args.json,
        {
            "benchmark": "studio",
            "personas": PERSONAS,
            "messages": 2 * TURNS,
            "target_p95_ms": TARGET_MS,
            "results": results,
            "analytics_totals": totals,
            # A shared machine: the load during the run says how far to trust the figures.
            "load_average": os.getloadavg(),
            "machine": machine_info(),
        },
    )


if __name__ == "__main__":
    asyncio.run(main())
