"""Cluster scaling — turns/s with 1 and 2 workers, and the queue's overhead per turn.

The cluster of bench/cluster_faults.py without faults: PostgreSQL (a throw-away database),
one web node, N workers (`personae worker`, scripted engine), the loopback Graph API. For N
= 1 and N = 2, ``--messages`` WhatsApp texts from distinct people are posted through the
signed webhook as fast as 64 senders can; ``turns_per_s`` is messages / seconds from the
first post until the last reply reached "WhatsApp" (accept, queue, turn, outbox, send).
``scaling`` = turns/s with 2 workers ÷ with 1: on a 2-core machine that also runs
PostgreSQL, the web node and the Graph server, expect far below 2.

Queue overhead: ``--paced`` messages from distinct people at ``--rate`` a second (no
conversation waits on another turn), then the p95 of each turn's accept → start wait
(its trace's ``timings.queued_ms``), beside the same figure for `personae up`'s embedded
queue on SQLite, measured in the same run.

    .venv/bin/python bench/cluster_scaling.py --json bench/results/cluster_scaling.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx

from _channels import (
    kill,
    prepare_home,
    server_env,
    signed_headers,
    start_graph,
    start_server,
    text_webhook,
)
from _cluster import Cluster, add_cluster_args, cluster_env, fresh_database, p95, queued_ms
from _common import (
    free_port,
    fresh_home,
    machine_info,
    parser,
    print_table,
    warn_if_busy,
    write_json,
)
from faults import received


async def post_all(url: str, bodies: list[bytes], senders: int, rate: float | None) -> None:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    limits = httpx.Limits(max_connections=senders, max_keepalive_connections=senders)

    async def sender(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            while True:
                try:
                    answer = await client.post(url, content=body, headers=signed_headers(body))
                    if answer.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)

    async with httpx.AsyncClient(timeout=10.0, limits=limits) as client:
        if rate is None:
            await asyncio.gather(*(sender(client) for _ in range(senders)))
            return
        tasks = []
        for body in bodies:  # paced: one every 1/rate s, each on its own
            tasks.append(asyncio.create_task(_post_one(client, url, body)))
            await asyncio.sleep(1.0 / rate)
        await asyncio.gather(*tasks)


async def _post_one(client: httpx.AsyncClient, url: str, body: bytes) -> None:
    while True:
        try:
            answer = await client.post(url, content=body, headers=signed_headers(body))
            if answer.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.05)


def bodies(count: int, tag: str) -> tuple[list[bytes], set[str]]:
    at = int(time.time())
    texts = [f"scaling {tag} {n}" for n in range(count)]
    made = [text_webhook(n, f"wamid.{tag}{n:06d}", text, at) for n, text in enumerate(texts)]
    return made, set(texts)


async def wait_replies(record: Path, expected: set[str], limit_s: float) -> float:
    while True:
        got = {r["text"].removeprefix("echo: ") for r in received(record)}
        if expected <= got:
            return time.monotonic()
        if limit_s <= 0:
            raise RuntimeError(f"{len(expected - got)} replies missing")
        await asyncio.sleep(0.1)
        limit_s -= 0.1


async def cluster_run(
    home: Path, args: argparse.Namespace, url: str, workers: int
) -> dict[str, Any]:
    record = home / f"graph{workers}.jsonl"
    port = free_port()
    graph, graph_url = start_graph(home, record)
    cluster = Cluster(home, cluster_env(home, graph_url, args, url))
    hook = f"http://127.0.0.1:{port}/webhooks/whatsapp"
    try:
        await asyncio.to_thread(cluster.start_web, port)
        for _ in range(workers):
            cluster.start_worker()
        warm, warm_texts = bodies(8, f"warm{workers}x")  # workers started and connected
        await post_all(hook, warm, 8, None)
        await wait_replies(record, warm_texts, 120)
        load, texts = bodies(args.messages, f"load{workers}x")
        start = time.monotonic()
        await post_all(hook, load, 64, None)
        end = await wait_replies(record, texts, 300)
        row: dict[str, Any] = {"workers": workers, "turns_per_s": len(load) / (end - start)}
        if workers == 2:
            before = len(await queued_ms(url))
            paced, paced_texts = bodies(args.paced, "paced")
            await post_all(hook, paced, 1, args.rate)
            await wait_replies(record, paced_texts, 120)
            row["queued_ms"] = (await queued_ms(url))[before:]
        return row
    finally:
        cluster.stop()
        kill(graph)


async def embedded_run(home: Path, args: argparse.Namespace) -> list[float]:
    """The same paced messages through `personae up` (embedded queue, SQLite)."""
    record = home / "graph-up.jsonl"
    port = free_port()
    graph, graph_url = start_graph(home, record)
    proc = await asyncio.to_thread(start_server, home, server_env(home, graph_url, args), port)
    try:
        paced, texts = bodies(args.paced, "upaced")
        await post_all(f"http://127.0.0.1:{port}/webhooks/whatsapp", paced, 1, args.rate)
        await wait_replies(record, texts, 120)
    finally:
        kill(proc)
        kill(graph)
    with sqlite3.connect(home / "personae.db") as conn:
        rows = conn.execute("SELECT trace FROM turns WHERE trace IS NOT NULL").fetchall()
    return [json.loads(r[0])["timings"]["queued_ms"] for r in rows]


def measure(args: argparse.Namespace) -> dict[str, Any]:
    rows = []
    for workers in (1, 2):
        with fresh_home() as home, fresh_database(args.postgres) as url:
            prepare_home(home)
            rows.append(asyncio.run(cluster_run(home, args, url, workers)))
    with fresh_home() as home:
        prepare_home(home)
        embedded = asyncio.run(embedded_run(home, args))
    cluster_q = rows[1].pop("queued_ms")
    return {
        "benchmark": "cluster_scaling",
        "messages": args.messages,
        "turns_per_s_1_worker": rows[0]["turns_per_s"],
        "turns_per_s_2_workers": rows[1]["turns_per_s"],
        "scaling": rows[1]["turns_per_s"] / rows[0]["turns_per_s"],
        "paced_messages": args.paced,
        "paced_rate_per_s": args.rate,
        "queue_overhead_p95_ms": p95(cluster_q),
        "queue_overhead_median_ms": sorted(cluster_q)[len(cluster_q) // 2] if cluster_q else None,
        "embedded_queue_overhead_p95_ms": p95(embedded),
        "machine": machine_info(),
    }


def report(result: dict[str, Any]) -> None:
    print_table(
        ["messages", "turns/s 1 worker", "turns/s 2 workers", "scaling",
         "queue p95 ms (cluster)", "queue p95 ms (embedded)"],
        [[result["messages"], result["turns_per_s_1_worker"], result["turns_per_s_2_workers"],
          result["scaling"], result["queue_overhead_p95_ms"],
          result["embedded_queue_overhead_p95_ms"]]],
    )  # fmt: skip


def main() -> None:
    p = parser(__doc__.splitlines()[0] if __doc__ else "cluster scaling")
    p.set_defaults(engine="scripted")
    add_cluster_args(p)
    p.add_argument("--messages", type=int, default=400)
    p.add_argument("--paced", type=int, default=100)
    p.add_argument("--rate", type=float, default=10.0, help="paced messages a second")
    args = p.parse_args()
    warn_if_busy()
    result = measure(args)
    report(result)
    write_json(args.json, result)


if __name__ == "__main__":
    main()
