"""Cluster faults — no message lost, answered twice, out of order or parked while workers are
SIGKILLed and PostgreSQL restarts.

A cluster on loopback, as it would run on several machines: PostgreSQL (a throw-away
database), 2 web nodes (`personae serve --role web`) and 3 workers (`personae worker`,
scripted persona: the reply to a text is "echo: <text>", so each reply names its message),
PERSONAE_QUEUE=procrastinate. 1,000 WhatsApp text messages from 100 people (10 each) go
through the signed webhooks, spread over both web nodes like a load balancer would; 30% are
delivered twice (a third of those with both copies at once). Like Meta, the sender posts each
webhook again until it gets a 200. Meanwhile a random worker is SIGKILLed and started again
20 times, and PostgreSQL itself is restarted once (`--pg-restart`, default
`pg_ctlcluster 15 main restart`; `--pg-restart ''` skips it). The persona's model is served
by 2 OpenAI-compatible endpoints on loopback (bench/_openai.py, engine `endpoints`: routing,
health checks, failover), replying as the scripted engine would; after
`--endpoint-kill-after` seconds the endpoint taking the traffic is SIGKILLed (mid-reply: words
are paced) and stays down (`--model-endpoints 0`: the in-process scripted engine instead).
Replies are captured by the loopback Graph API (bench/_graph.py), which also reports each send
back by a signed status webhook (spread over both web nodes). Then the benchmark waits (bounded)
until every reply went out and nothing is left unfinished, and counts from what "WhatsApp" received:

- ``lost``, ``duplicates``, ``out_of_order`` (as bench/faults.py) and ``parked``: jobs that
  used up their attempts (target: all 0).

    .venv/bin/python bench/cluster_faults.py --json bench/results/cluster_faults.json
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shlex
import socket
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from _channels import HERE, kill, prepare_home, signed_headers, start_graph
from _cluster import Cluster, add_cluster_args, cluster_env, fresh_database, store_counts
from _common import (
    free_port,
    fresh_home,
    machine_info,
    parser,
    print_table,
    verdict,
    warn_if_busy,
    write_json,
)
from faults import Message, count, plan, received


class Balancer:
    """Posts each webhook, to the web nodes in turn, until one answers 200 (as Meta retries);
    notes when each failed answer came, to set them beside the PostgreSQL restart."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.next = 0
        self.attempts = 0
        self.failures: Counter[str] = Counter()
        self.failed_at: list[tuple[float, str]] = []

    async def deliver(self, client: httpx.AsyncClient, body: bytes) -> None:
        while True:
            self.attempts += 1
            url = self.urls[self.next % len(self.urls)]
            self.next += 1
            try:
                response = await client.post(url, content=body, headers=signed_headers(body))
                if response.status_code == 200:
                    return
                why = str(response.status_code)
            except httpx.HTTPError as err:
                why = type(err).__name__
            self.failures[why] += 1
            self.failed_at.append((time.monotonic(), why))
            await asyncio.sleep(0.1)

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


async def kill_workers(
    cluster: Cluster, kills: int, rng: random.Random, every: list[float]
) -> list[float]:
    at: list[float] = []
    for _ in range(kills):
        await asyncio.sleep(rng.uniform(every[0], every[1]))
        slot = rng.randrange(len(cluster.workers))
        kill(cluster.workers[slot])
        cluster.start_worker(slot)
        at.append(time.monotonic())
        print(f"  worker {slot} SIGKILLed and started again ({len(at)}/{kills})", flush=True)
    return at


async def restart_postgres(command: str, after_s: float, home: Path) -> tuple[float, float] | None:
    """Restart the PostgreSQL server once; returns when it went down and came back. Its
    output goes to a file: a server started by the command may keep a pipe open forever."""
    if not command:
        return None
    await asyncio.sleep(after_s)
    start = time.monotonic()
    log = home / "pg_restart.log"
    with log.open("ab") as out:
        done = await asyncio.to_thread(
            subprocess.run, shlex.split(command), stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{command!r} failed: {log.read_text(errors='replace')[-500:]}")
    print(f"  PostgreSQL restarted in {time.monotonic() - start:.2f} s", flush=True)
    return start, time.monotonic()


ENDPOINT_PERSONA = """
    id: echo
    name: Bench Relay
    greeting: Hello!
    model: {engine: endpoints, name: echo}
    """


class ModelEndpoints:
    """The loopback model servers (bench/_openai.py) and the endpoints file naming them."""

    def __init__(self, home: Path, count: int, word_delay: float) -> None:
        self.home = home
        self.ports = [free_port() for _ in range(count)]
        self.records = [home / f"model{i}.jsonl" for i in range(count)]
        self.procs: list[subprocess.Popen[bytes]] = []
        for port, record in zip(self.ports, self.records, strict=True):
            command = [sys.executable, str(HERE / "_openai.py"), "--port", str(port)]
            command += ["--word-delay", str(word_delay), "--record", str(record)]
            log = (home / f"model{port}.log").open("ab")
            self.procs.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
        for port, proc in zip(self.ports, self.procs, strict=True):
            deadline = time.monotonic() + 30.0
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the loopback model server on {port} did not start")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    time.sleep(0.05)
        listed = "".join(
            f"\n      - base_url: http://127.0.0.1:{port}/v1\n        concurrency: 64"
            for port in self.ports
        )
        (home / "endpoints.yaml").write_text(
            f"models:\n  - name: echo\n    context_window: 8192\n    endpoints:{listed}\n",
            encoding="utf-8",
        )
        (home / "personas" / "echo.yaml").write_text(
            textwrap.dedent(ENDPOINT_PERSONA), encoding="utf-8"
        )

    def requests(self) -> list[tuple[int, int, int]]:
        """Per endpoint: requests taken, those continuing a broken reply, those in flight."""
        counts = []
        for record in self.records:
            lines = record.read_text().splitlines() if record.exists() else []
            done = sum(1 for line in lines if '"done": true' in line)
            continued = sum(1 for line in lines if '"continues": true' in line)
            counts.append((len(lines) - done, continued, len(lines) - 2 * done))
        return counts

    async def kill_busiest(self, after_s: float, least: int) -> int:
        """SIGKILL the endpoint that took the most requests (the persona's own: the routing
        keeps a persona on one endpoint) once ``after_s`` passed, it took ``least`` requests
        and one is in flight (the kill cuts a reply off); it stays down."""
        await asyncio.sleep(after_s)
        deadline = time.monotonic() + 120.0  # without a reply in flight by then: kill anyway
        while True:
            taken = self.requests()
            index = max(range(len(taken)), key=lambda i: taken[i][0])
            busy = taken[index][2] > 0 or time.monotonic() > deadline
            if taken[index][0] >= least and busy:
                break
            await asyncio.sleep(0.01)
        kill(self.procs[index])
        print(f"  model endpoint {index} SIGKILLed after {taken[index][0]} requests, "
              f"{taken[index][2]} in flight", flush=True)  # fmt: skip
        return index

    def stop(self) -> None:
        for proc in self.procs:
            kill(proc)


async def wait_drained(record: Path, expected: set[str], url: str, limit_s: float) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < limit_s:
        if expected <= {r["text"].removeprefix("echo: ") for r in received(record)}:
            try:
                left = await store_counts(url)
            except OSError:
                left = {"jobs": 1, "outbox": 1}
            if not left["jobs"] and not left["outbox"]:
                break
        await asyncio.sleep(0.5)
    return time.perf_counter() - start


async def run(home: Path, args: argparse.Namespace, url: str) -> dict[str, Any]:
    rng = random.Random(args.seed)
    messages = plan(args.people, args.each, args.redeliver, args.seed)
    record = home / "graph.jsonl"
    ports = [free_port() for _ in range(args.webs)]
    hooks = [f"http://127.0.0.1:{port}/webhooks/whatsapp" for port in ports]
    graph, graph_url = start_graph(home, record, hooks)
    models = ModelEndpoints(home, args.model_endpoints, args.word_delay)
    extra = {"PERSONAE_ENDPOINTS": str(home / "endpoints.yaml")} if args.model_endpoints else {}
    env = cluster_env(
        home, graph_url, args, url,
        PERSONAE_QUEUE_HEARTBEAT_S=str(args.heartbeat), PERSONAE_QUEUE_STALLED_S=str(args.stalled),
        PERSONAE_DELIVERY_POLL_S="1.0",
        # The per-number rate bucket is one row every webhook of the number updates: on
        # PostgreSQL a hot row that serialises all accepts (measured: 2 web nodes stalled on
        # it). Its limit is not what this measures; person buckets stay on.
        PERSONAE_RATE_CONNECTION_PER_MIN="0",
        **extra,
    )  # fmt: skip
    cluster = Cluster(home, env)
    balancer = Balancer(hooks)
    try:
        for port in ports:  # one after the other: the first creates the tables
            await asyncio.to_thread(cluster.start_web, port)
        for _ in range(args.workers):
            cluster.start_worker()
        start = time.perf_counter()
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(timeout=10.0, limits=limits) as client:
            people = [
                balancer.person(client, [m for m in messages if m.person == p], args.gap, rng)
                for p in range(args.people)
            ]
            kills = kill_workers(cluster, args.kills, rng, args.kill_every)
            restart = restart_postgres(args.pg_restart, args.pg_restart_after, home)
            endpoint_kill = (
                models.kill_busiest(args.endpoint_kill_after, len(messages) // 10)
                if args.model_endpoints > 1
                else asyncio.sleep(0, None)
            )
            kill_at, pg_window, killed_endpoint, *_ = await asyncio.gather(
                kills, restart, endpoint_kill, *people
            )
        sent_s = time.perf_counter() - start
        expected = {m.text for m in messages}
        drain_s = await wait_drained(record, expected, url, args.drain_limit)
        left = await store_counts(url)
    finally:
        cluster.stop()
        kill(graph)
        models.stop()
    result = count(messages, received(record))
    failures_503_outside = None
    if pg_window is not None:
        down, up = pg_window
        grace = 10.0  # connections notice the restart a little after it
        failures_503_outside = sum(
            1 for at, why in balancer.failed_at if why == "503" and not down - 1 <= at <= up + grace
        )
    return {
        **result,
        "parked": left["parked"],
        "messages": len(messages),
        "people": args.people,
        "web_nodes": args.webs,
        "workers": args.workers,
        "redelivered": sum(1 for m in messages if m.redeliver),
        "redelivered_together": sum(1 for m in messages if m.redeliver == "together"),
        "worker_kills": len(kill_at),
        "model_endpoints": args.model_endpoints,
        "endpoint_killed": killed_endpoint,
        "endpoint_requests": [n for n, _, _ in models.requests()],
        "endpoint_continuations": [c for _, c, _ in models.requests()],
        "postgres_restart_s": None if pg_window is None else pg_window[1] - pg_window[0],
        "webhook_posts": balancer.attempts,
        "webhook_failures": dict(balancer.failures),
        "webhook_503_outside_restart": failures_503_outside,
        "send_phase_s": sent_s,
        "drain_s": drain_s,
        "unfinished_at_end": {"jobs": left["jobs"], "outbox": left["outbox"]},
        "outbox_failed": left["outbox_failed"],
        "work_max_attempts": left["work_max_attempts"],
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    with fresh_home() as home, fresh_database(args.postgres) as url:
        prepare_home(home)
        try:
            row = asyncio.run(run(home, args, url))
        except BaseException:
            for log in sorted(home.glob("*.log")):
                print(f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}")
            raise
    zero = ("lost", "duplicates", "out_of_order", "parked", "unexpected_replies")
    ok = all(row[key] == 0 for key in zero) and row["wrong_recipient"] == 0
    return {
        "benchmark": "cluster_faults",
        "target": "lost = duplicates = out_of_order = parked = 0",
        **row,
        "pass": ok,
        "machine": machine_info(),
    }


def report(result: dict[str, Any]) -> None:
    headers = ["messages", "redelivered", "together", "webs", "workers", "kills", "pg restart s"]
    headers += ["posts", "failed posts", "send s", "drain s", "replies"]
    pg = result["postgres_restart_s"]
    print_table(
        headers,
        [[
            result["messages"], result["redelivered"], result["redelivered_together"],
            result["web_nodes"], result["workers"], result["worker_kills"],
            "-" if pg is None else f"{pg:.2f}", result["webhook_posts"],
            sum(result["webhook_failures"].values()), result["send_phase_s"],
            result["drain_s"], result["replies_received"],
        ]],
    )  # fmt: skip
    print(f"failed webhook answers: {result['webhook_failures']} "
          f"(503 outside the restart window: {result['webhook_503_outside_restart']})")  # fmt: skip
    left, most = result["unfinished_at_end"], result["work_max_attempts"]
    if result["model_endpoints"]:
        print(f"model endpoints: requests {result['endpoint_requests']}, continuations of a "
              f"broken reply {result['endpoint_continuations']}, killed: "
              f"{result['endpoint_killed']}")  # fmt: skip
    print(f"unfinished at the end: {left}; outbox failed: {result['outbox_failed']}; "
          f"most attempts of a job: {most}")  # fmt: skip
    print()
    print(
        f"Cluster faults   lost {result['lost']}  duplicates {result['duplicates']}  "
        f"out_of_order {result['out_of_order']}  parked {result['parked']}  "
        f"(unexpected {result['unexpected_replies']}, wrong recipient "
        f"{result['wrong_recipient']})  target 0  {verdict(result['pass'])}"
    )


def main() -> None:
    p = parser(__doc__.splitlines()[0] if __doc__ else "cluster faults")
    p.set_defaults(engine="scripted")
    add_cluster_args(p)
    p.add_argument("--people", type=int, default=100)
    p.add_argument("--each", type=int, default=10, help="messages per person")
    p.add_argument("--redeliver", type=float, default=0.3, help="share delivered twice")
    p.add_argument("--webs", type=int, default=2)
    p.add_argument("--workers", type=int, default=3)
    p.add_argument("--kills", type=int, default=20)
    p.add_argument(
        "--kill-every", type=lambda s: [float(x) for x in s.split(",")], default=[0.5, 2.0],
        help="LOW,HIGH: seconds between two worker kills",
    )  # fmt: skip
    p.add_argument("--pg-restart", default="pg_ctlcluster 15 main restart",
                   help="command that restarts PostgreSQL once ('' to skip)")  # fmt: skip
    p.add_argument("--pg-restart-after", type=float, default=8.0)
    p.add_argument(
        "--model-endpoints",
        type=int,
        default=2,
        help="loopback model endpoints (0: the in-process scripted engine)",
    )
    p.add_argument(
        "--endpoint-kill-after",
        type=float,
        default=20.0,
        help="seconds until the busiest model endpoint is SIGKILLed",
    )
    p.add_argument(
        "--word-delay",
        type=float,
        default=0.02,
        help="the model endpoints' pause before each word (a kill lands mid-reply)",
    )
    # A live worker on a loaded 2-core machine can miss a few heartbeats: a stall timeout
    # shorter than that runs its jobs twice at once (a turn is still stored once; a send
    # may go twice), so not much shorter than the 30 s default.
    p.add_argument("--heartbeat", type=float, default=2.0, help="PERSONAE_QUEUE_HEARTBEAT_S")
    p.add_argument("--stalled", type=float, default=15.0, help="PERSONAE_QUEUE_STALLED_S")
    p.add_argument("--gap", type=float, default=2.0, help="mean seconds between messages")
    p.add_argument("--drain-limit", type=float, default=900.0)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    warn_if_busy()
    result = measure(args)
    report(result)
    write_json(args.json, result)


if __name__ == "__main__":
    main()
