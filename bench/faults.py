"""Faults — no message lost, answered twice or out of order while the server is killed.

1,000 WhatsApp text messages from 100 people (10 each, every text unique) go through the
signed webhook of a `personae up` process (SQLite store, scripted persona: the reply to a text
is "echo: <text>", so each reply names its message). 30% of the messages are delivered twice:
a third of those with both copies at once, the rest one after the other. Meanwhile the server
is SIGKILLed and restarted 20 times, each time as soon as it answers /healthz again. Like Meta,
the sender retries each webhook until it gets a 200. Replies are captured by the loopback
Graph API (bench/_graph.py) in its own process. Then the benchmark waits (bounded) until every
reply went out and counts, from what "WhatsApp" received:

- ``lost``: messages with no reply (target 0);
- ``duplicates``: extra copies of a reply (target 0);
- ``out_of_order``: people whose replies did not arrive in the order of their messages
  (target 0).

Like WhatsApp, the loopback Graph API reports every send by a signed ``sent`` status webhook
carrying the send's ``biz_opaque_callback_data`` (retried, with backoff, until the server
takes it). A send cut off by SIGKILL after "Meta" got it and before the outbox recorded it is
held at the restart until that report settles it; only a send never reported is made again.
The benchmark waits until no job or outbox row is left, so a late second send would count.

    .venv/bin/python bench/faults.py --json bench/results/faults.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass
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
    wa_id,
)
from _common import (
    free_port,
    fresh_home,
    machine_info,
    median,
    parser,
    print_table,
    verdict,
    warn_if_busy,
    write_json,
)
from startup import stop


@dataclass(frozen=True)
class Message:
    person: int
    number: int  # its place among the person's messages
    text: str
    body: bytes
    redeliver: str  # "", "after" or "together"


def plan(people: int, each: int, share: float, seed: int) -> list[Message]:
    rng = random.Random(seed)
    total = people * each
    twice = rng.sample(range(total), round(total * share))
    together = set(twice[: len(twice) // 3])
    at = int(time.time())
    messages = []
    for n in range(total):
        person, number = divmod(n, each)
        text = f"person {person} message {number} token {rng.getrandbits(40):010x}"
        body = text_webhook(person, f"wamid.FAULT{person:03d}{number:03d}", text, at)
        how = "together" if n in together else "after" if n in twice else ""
        messages.append(Message(person, number, text, body, how))
    return messages


class Sender:
    """Posts each webhook until a 200, as Meta retries; counts the attempts that failed."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.attempts = 0
        self.failures: Counter[str] = Counter()

    async def deliver(self, client: httpx.AsyncClient, body: bytes) -> None:
        while True:
            self.attempts += 1
            try:
                response = await client.post(self.url, content=body, headers=signed_headers(body))
                if response.status_code == 200:
                    return
                self.failures[str(response.status_code)] += 1
            except httpx.HTTPError as err:
                self.failures[type(err).__name__] += 1
            await asyncio.sleep(0.05)

    async def person(
        self, client: httpx.AsyncClient, messages: list[Message], gap_s: float, rng: random.Random
    ) -> None:
        for message in messages:
            await asyncio.sleep(rng.uniform(0, 2 * gap_s))
            if message.redeliver == "together":
                await asyncio.gather(
                    self.deliver(client, message.body), self.deliver(client, message.body)
                )
            else:
                await self.deliver(client, message.body)
                if message.redeliver == "after":
                    await self.deliver(client, message.body)


class Killer:
    """SIGKILLs the server every so often and starts it again at once."""

    def __init__(self, home: Path, env: dict[str, str], port: int) -> None:
        self.home, self.env, self.port = home, env, port
        self.proc = start_server(home, env, port)
        self.restart_s: list[float] = []

    async def run(self, kills: int, rng: random.Random, low: float, high: float) -> None:
        for _ in range(kills):
            await asyncio.sleep(rng.uniform(low, high))
            kill(self.proc)
            start = time.perf_counter()
            self.proc = await asyncio.to_thread(start_server, self.home, self.env, self.port)
            self.restart_s.append(time.perf_counter() - start)


def received(record: Path) -> list[dict[str, Any]]:
    if not record.exists():
        return []
    lines = record.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def unfinished(db: Path) -> dict[str, int]:
    """Turn jobs not done and outbox entries not sent, straight from the database."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10.0) as conn:
        work = conn.execute("SELECT count(*) FROM work WHERE status IN ('pending', 'running')")
        jobs = int(work.fetchone()[0])
        out = conn.execute("SELECT count(*) FROM outbox WHERE status NOT IN ('sent', 'failed')")
        return {"jobs": jobs, "outbox": int(out.fetchone()[0])}


async def wait_drained(record: Path, expected: set[str], db: Path, limit_s: float) -> float:
    """Until every message has its reply and nothing is left to send (a send cut off by a kill
    and held for its confirmation may still go out again: that would be a duplicate)."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit_s:
        if expected <= {_echoed(r["text"]) for r in received(record)}:
            left = await asyncio.to_thread(unfinished, db)
            if not left["jobs"] and not left["outbox"]:
                break
        await asyncio.sleep(0.25)
    return time.perf_counter() - start


def _echoed(reply: str) -> str:
    """The message a reply answers: the scripted reply is "echo: <text>"."""
    return reply.removeprefix("echo: ")


def count(messages: list[Message], replies: list[dict[str, Any]]) -> dict[str, Any]:
    by_reply = {m.text: m for m in messages}
    copies = Counter(_echoed(r["text"]) for r in replies)
    lost = [m for m in messages if copies[m.text] == 0]
    order: dict[int, list[int]] = {}
    unexpected: list[str] = []
    wrong_person = 0
    for r in replies:
        m = by_reply.get(_echoed(r["text"]))
        if m is None:
            unexpected.append(r["text"])
            continue
        wrong_person += r["to"] != wa_id(m.person)
        seen = order.setdefault(m.person, [])
        if m.number not in seen:  # a duplicate is counted as one, not as disorder
            seen.append(m.number)
    disordered = [p for p, numbers in order.items() if numbers != sorted(numbers)]
    return {
        "lost": len(lost),
        "duplicates": sum(n - 1 for t, n in copies.items() if t in by_reply and n > 1),
        "duplicated_messages": sum(1 for t, n in copies.items() if t in by_reply and n > 1),
        "most_copies": max((n for t, n in copies.items() if t in by_reply), default=0),
        "out_of_order": len(disordered),
        "unexpected_replies": len(unexpected),
        "unexpected_examples": unexpected[:3],
        "wrong_recipient": wrong_person,
        "replies_received": len(replies),
        "lost_examples": [m.text for m in lost[:5]],
        "out_of_order_examples": {p: order[p] for p in disordered[:3]},
    }


def db_counts(db: Path) -> dict[str, Any]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10.0) as conn:
        roles = dict(conn.execute("SELECT role, count(*) FROM messages GROUP BY role").fetchall())
        outbox = dict(conn.execute("SELECT status, count(*) FROM outbox GROUP BY status"))
        attempts = conn.execute("SELECT max(attempts) FROM outbox").fetchone()[0]
    return {"messages_by_role": roles, "outbox_by_status": outbox, "outbox_max_attempts": attempts}


async def run(home: Path, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    messages = plan(args.people, args.each, args.redeliver, args.seed)
    record = home / "graph.jsonl"
    port = free_port()
    # "WhatsApp" reports each send by a status webhook, which is what settles a send that a
    # kill cut off (instead of sending it again).
    graph, graph_url = start_graph(home, record, f"http://127.0.0.1:{port}/webhooks/whatsapp")
    env = server_env(home, graph_url, args)
    killer = Killer(home, env, port)
    sender = Sender(f"http://127.0.0.1:{port}/webhooks/whatsapp")
    start = time.perf_counter()
    try:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(timeout=10.0, limits=limits) as client:
            people = [
                sender.person(client, [m for m in messages if m.person == p], args.gap, rng)
                for p in range(args.people)
            ]
            kills = killer.run(args.kills, rng, args.kill_every[0], args.kill_every[1])
            await asyncio.gather(kills, *people)
        sent_s = time.perf_counter() - start
        expected = {m.text for m in messages}
        drain_s = await wait_drained(record, expected, home / "personae.db", args.drain_limit)
        left = unfinished(home / "personae.db")
    finally:
        code, _ = stop(killer.proc, 60.0)
        kill(graph)
    result = count(messages, received(record))
    return {
        **result,
        "messages": len(messages),
        "people": args.people,
        "redelivered": sum(1 for m in messages if m.redeliver),
        "redelivered_together": sum(1 for m in messages if m.redeliver == "together"),
        "kills": len(killer.restart_s),
        "restart_median_s": median(killer.restart_s),
        "restart_max_s": max(killer.restart_s, default=float("nan")),
        "webhook_posts": sender.attempts,
        "webhook_failures": dict(sender.failures),
        "send_phase_s": sent_s,
        "drain_s": drain_s,
        "unfinished_at_end": left,
        "store": db_counts(home / "personae.db"),
        "server_exit_code": code,
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    with fresh_home() as home:
        prepare_home(home)
        try:
            row = asyncio.run(run(home, args))
        except BaseException:
            log = (home / "server.log").read_text(errors="replace")
            print(log[-3000:])
            raise
    ok = row["lost"] == 0 and row["duplicates"] == 0 and row["out_of_order"] == 0
    return {
        "benchmark": "faults",
        "target": "lost = duplicates = out_of_order = 0",
        **row,
        "pass": ok and row["unexpected_replies"] == 0 and row["wrong_recipient"] == 0,
        "machine": machine_info(),
    }


def report(result: dict[str, Any]) -> None:
    headers = ["messages", "redelivered", "together", "kills", "posts", "failed posts"]
    headers += ["restart s (median/max)", "send s", "drain s", "replies"]
    failed = sum(result["webhook_failures"].values())
    restart = f"{result['restart_median_s']:.2f}/{result['restart_max_s']:.2f}"
    print_table(
        headers,
        [[
            result["messages"], result["redelivered"], result["redelivered_together"],
            result["kills"], result["webhook_posts"], failed, restart,
            result["send_phase_s"], result["drain_s"], result["replies_received"],
        ]],
    )  # fmt: skip
    print(f"store at the end: {result['store']}; unfinished: {result['unfinished_at_end']}")
    print(
        f"duplicates: {result['duplicates']} extra copies of {result['duplicated_messages']} "
        f"replies (at most {result['most_copies']} copies of one), "
        f"{result['duplicates'] / max(1, result['kills']):.1f} per kill"
    )
    print()
    print(
        f"Faults           lost {result['lost']}  duplicates {result['duplicates']}  "
        f"out_of_order {result['out_of_order']}  (unexpected {result['unexpected_replies']}, "
        f"wrong recipient {result['wrong_recipient']})  target 0  {verdict(result['pass'])}"
    )


def main() -> None:
    p = parser(__doc__.splitlines()[0] if __doc__ else "faults")
    p.set_defaults(engine="scripted")
    p.add_argument("--people", type=int, default=100)
    p.add_argument("--each", type=int, default=10, help="messages per person")
    p.add_argument("--redeliver", type=float, default=0.3, help="share delivered twice")
    p.add_argument("--kills", type=int, default=20)
    p.add_argument(
        "--kill-every",
        type=lambda s: [float(x) for x in s.split(",")],
        default=[0.3, 1.5],
        help="LOW,HIGH: seconds a server lives between kills",
    )
    p.add_argument("--gap", type=float, default=2.0, help="mean seconds between messages")
    p.add_argument("--drain-limit", type=float, default=120.0)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    warn_if_busy()
    result = measure(args)
    report(result)
    write_json(args.json, result)


if __name__ == "__main__":
    main()
