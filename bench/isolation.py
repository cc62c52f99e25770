"""Isolation — one client's huge history must not slow anyone else down.

A `personae up` process (fresh PERSONAE_HOME, free port) serves two personas. While an attacker
sends a stateless request with 10,000 short alternating history messages (about 0.5 MB, under
the body cap) to one persona, over and over for ``--seconds``, two other clients measure:

- ``healthz_p99_ms``: p99 of ``GET /healthz`` latency, polled every 20 ms (target <= 100 ms);
- ``victim_turn_ratio``: the median latency of a short turn on the other persona during the
  attack ÷ the median of the same turn on the idle server, measured first (target <= 1.5).

Two rows: the message cap at its default (the attack is refused with a 400 before any work) and
the cap raised to let all 10,000 messages through prompt fitting and token counting on the
embedded llama.cpp engine (then the newest messages that fit are generated on).

The victim persona runs on the shipped scripted engine with a per-word delay (a ~0.2 s streamed
reply): the figure is about the server (event loop, HTTP pool, tokenizer traffic), not about
compute. On the shared 2-core machine a victim on the embedded model would compete with the
attacker's own prompt evaluation for the same two cores, and any second generation halves the
speed of the first, so its ratio would measure the CPU, not isolation. The server runs in its
own process so the clients' work does not share its event loop or GIL.

    .venv/bin/python bench/isolation.py --json bench/results/isolation.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx

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
from startup import child_env, console_script, stop, wait_ready

HEALTHZ_TARGET_MS = 100.0
VICTIM_TARGET = 1.5
ATTACK_MESSAGES = 10_000
RAISED_CAP = 20_000
PERSONAS = {
    "target": """
        id: target
        name: Target
        greeting: Hello!
        model: {engine: llamacpp, max_tokens: 8, temperature: 0.0}
        """,
    "victim": """
        id: victim
        name: Victim
        greeting: Hi there.
        model: {engine: scripted, name: "slow:0.03"}
        """,
}
VICTIM_TEXT = "Please tell me one short thing about your day"


def attack_body() -> bytes:
    """Encoded once: the attacker's own JSON work stays out of the measured window."""
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"message number {i}"}
        for i in range(ATTACK_MESSAGES - 1)
    ]
    messages.append({"role": "user", "content": "Say hi."})
    body = {"model": "target", "messages": messages, "max_tokens": 8, "temperature": 0.0}
    return json.dumps(body).encode()


async def victim_turn(client: httpx.AsyncClient, number: int) -> float:
    body = {
        "model": "victim",
        "user": f"bench-victim-{number}",
        "messages": [{"role": "user", "content": VICTIM_TEXT}],
    }
    start = time.perf_counter()
    response = await client.post("/v1/chat/completions", json=body)
    response.raise_for_status()
    return time.perf_counter() - start


async def attack(url: str, body: bytes, seconds: float) -> list[dict[str, Any]]:
    """Back-to-back attack requests for ``seconds`` (at least one), each on a new connection."""
    outcomes: list[dict[str, Any]] = []
    deadline = time.perf_counter() + seconds
    headers = {"Content-Type": "application/json"}
    while not outcomes or time.perf_counter() < deadline:
        async with httpx.AsyncClient(base_url=url, timeout=600.0) as client:
            start = time.perf_counter()
            response = await client.post("/v1/chat/completions", content=body, headers=headers)
            outcomes.append(
                {"status": response.status_code, "seconds": time.perf_counter() - start}
            )
    return outcomes


async def poll_healthz(client: httpx.AsyncClient, done: asyncio.Event) -> list[float]:
    took: list[float] = []
    while not done.is_set():
        start = time.perf_counter()
        response = await client.get("/healthz")
        response.raise_for_status()
        took.append(time.perf_counter() - start)
        await asyncio.sleep(0.02)
    return took


async def victims(client: httpx.AsyncClient, done: asyncio.Event, first: int) -> list[float]:
    took: list[float] = []
    while not done.is_set():
        took.append(await victim_turn(client, first + len(took)))
    return took


async def one_row(url: str, cap: int, args: argparse.Namespace) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=600.0) as client:
        await victim_turn(client, 0)  # untimed: first-request costs
        idle = [await victim_turn(client, 1 + i) for i in range(args.idle_turns)]
        done = asyncio.Event()
        poller = asyncio.create_task(poll_healthz(client, done))
        victim = asyncio.create_task(victims(client, done, 1000))
        try:
            attacks = await attack(url, attack_body(), args.seconds)
        finally:
            done.set()
        healthz, loaded = await poller, await victim
    p99 = statistics.quantiles(healthz, n=100)[98] if len(healthz) >= 2 else healthz[0]
    ratio = median(loaded) / median(idle)
    return {
        "cap": cap,
        "attack_statuses": sorted({a["status"] for a in attacks}),
        "attacks": len(attacks),
        "attack_median_s": median([a["seconds"] for a in attacks]),
        "healthz_p99_ms": p99 * 1000,
        "healthz_max_ms": max(healthz) * 1000,
        "healthz_samples": len(healthz),
        "victim_idle_median_s": median(idle),
        "victim_loaded_median_s": median(loaded),
        "victim_loaded_max_s": max(loaded),
        "victim_turns": len(loaded),
        "victim_turn_ratio": ratio,
        "pass": p99 * 1000 <= HEALTHZ_TARGET_MS and ratio <= VICTIM_TARGET,
    }


def serve(home: Path, args: argparse.Namespace, cap: int) -> tuple[subprocess.Popen[bytes], str]:
    folder = home / "personas"
    folder.mkdir()
    for slug, text in PERSONAS.items():
        (folder / f"{slug}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    env = child_env(home, args)
    env.update(PERSONAE_PERSONAS_DIR=str(folder), PERSONAE_MAX_MESSAGES=str(cap))
    port = free_port()
    command = [console_script(), "up", "--port", str(port), "--engine", args.engine]
    log = (home / "server.log").open("wb")
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}"


def measure_cap(args: argparse.Namespace, cap: int) -> dict[str, Any]:
    with fresh_home() as home:
        proc, url = serve(home, args, cap)
        try:
            wait_ready(f"{url}/healthz", proc, time.perf_counter(), 120.0)
            row = asyncio.run(one_row(url, cap, args))
        except BaseException:
            proc.kill()
            proc.wait()
            print((home / "server.log").read_text(errors="replace")[-3000:], file=sys.stderr)
            raise
        code, exit_s = stop(proc, 60.0)
    return {**row, "exit_code": code, "exit_s": exit_s}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from personae.settings import Settings

    default_cap = Settings.model_fields["max_messages"].default
    rows = [measure_cap(args, default_cap), measure_cap(args, RAISED_CAP)]
    return {
        "benchmark": "isolation",
        "target": f"healthz_p99_ms <= {HEALTHZ_TARGET_MS:g}, victim_turn_ratio <= {VICTIM_TARGET}",
        "healthz_p99_ms": max(r["healthz_p99_ms"] for r in rows),
        "victim_turn_ratio": max(r["victim_turn_ratio"] for r in rows),
        "pass": all(r["pass"] for r in rows),
        "attack_messages": ATTACK_MESSAGES,
        "seconds": args.seconds,
        "rows": rows,
        "machine": machine_info(),
    }


def report(result: dict[str, Any]) -> None:
    headers = ["cap", "attack", "attacks", "attack_s", "healthz p99 ms", "max ms"]
    headers += ["victim idle s", "victim loaded s", "ratio"]
    rows = [
        [
            r["cap"],
            ",".join(str(s) for s in r["attack_statuses"]),
            r["attacks"],
            r["attack_median_s"],
            r["healthz_p99_ms"],
            r["healthz_max_ms"],
            r["victim_idle_median_s"],
            r["victim_loaded_median_s"],
            r["victim_turn_ratio"],
        ]
        for r in result["rows"]
    ]
    print_table(headers, rows)
    print()
    print(
        f"Isolation        healthz_p99_ms {result['healthz_p99_ms']:.1f}  "
        f"victim_turn_ratio {result['victim_turn_ratio']:.2f} (worst row)  "
        f"target <= {HEALTHZ_TARGET_MS:g} ms, <= {VICTIM_TARGET}  {verdict(result['pass'])}"
    )


def main() -> None:
    p = parser(__doc__.splitlines()[0] if __doc__ else "isolation")
    p.add_argument("--seconds", type=float, default=15.0, help="attack for this long (per row)")
    p.add_argument("--idle-turns", type=int, default=10, help="victim turns on the idle server")
    args = p.parse_args()
    warn_if_busy()
    result = measure(args)
    report(result)
    write_json(args.json, result)


if __name__ == "__main__":
    main()
