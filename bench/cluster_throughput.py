"""P6 at scale, engine half: 64 concurrent conversations over 2 llama.cpp HTTP servers on
loopback, through personae (the API on a loopback server, engine `endpoints` routing over both)
÷ the same two servers driven directly at the same concurrency with the same prompts.

Each server is a real llama.cpp HTTP server (xllamacpp) in its own process, one thread, 32
slots. Each round sends 64 first turns at once (64 distinct users over the sample personas,
greedy, small max_tokens); the direct side splits the same 64 requests evenly over the two
servers. Rounds alternate personae, direct, direct, personae, ...; ``ratio`` is the median of
adjacent pairs' tokens/s ratios, and the ratio of the totals is reported too.

    .venv/bin/python bench/cluster_throughput.py --json bench/results/cluster_throughput.json
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from _common import (
    MESSAGES,
    SAMPLE_PERSONAS,
    Reply,
    api_turn,
    direct_request,
    direct_turn,
    fresh_home,
    http_client,
    loopback_server,
    machine_info,
    median,
    parser,
    print_table,
    reply_json,
    verdict,
    warm_up,
    warn_if_busy,
    write_json,
)
from personae.contracts import Engine
from personae.engines.openai_compatible import OpenAICompatibleEngine
from personae.metrics import REGISTRY
from personae.runtime import Runtime
from personae.settings import Settings
from personae.types import Persona

TARGET = 0.90
LLAMA_PROC = Path(__file__).resolve().parents[1] / "tests" / "engines" / "llama_proc.py"
Turn = Callable[[int, Persona, str], Awaitable[Reply]]


@contextmanager
def llama_servers(
    ports: list[int], slots: int, context: int
) -> Iterator[tuple[list[str], list[int]]]:
    """Real llama.cpp HTTP servers in their own processes; yields their /v1 base URLs and
    process ids."""
    procs = [
        subprocess.Popen(
            [sys.executable, str(LLAMA_PROC), str(port), str(slots), str(context)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    urls = [f"http://127.0.0.1:{port}/v1" for port in ports]
    try:
        deadline = time.monotonic() + 120
        for url, proc in zip(urls, procs, strict=True):
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the llama.cpp server for {url} exited at start")
                try:
                    if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the llama.cpp server for {url} did not start")
                time.sleep(0.2)
        yield urls, [proc.pid for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def endpoint_requests() -> dict[str, float]:
    """Generation requests personae sent so far, per endpoint (its own metrics)."""
    counts: dict[str, float] = {}
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            if sample.name == "personae_engine_requests_total":
                endpoint = sample.labels["endpoint"]
                counts[endpoint] = counts.get(endpoint, 0.0) + sample.value
    return counts


async def one_round(
    side: str, turn: Turn, prompts: list[tuple[Persona, str]], servers: list[int]
) -> dict[str, Any]:
    """One round; besides its tokens/s, where the CPU went (this process: the client, and
    on the personae side personae itself; each llama.cpp server) and how much of the
    prompts the servers' caches held (``cached_tokens``): what explains a ratio."""
    pids = [os.getpid(), *servers]
    cpu_before = [cpu_s(pid) for pid in pids]
    sent_before = endpoint_requests()
    start = time.perf_counter()
    outcomes = await asyncio.gather(
        *(turn(i, persona, text) for i, (persona, text) in enumerate(prompts)),
        return_exceptions=True,
    )
    seconds = time.perf_counter() - start
    cpu = [cpu_s(pid) - before for pid, before in zip(pids, cpu_before, strict=True)]
    sent = endpoint_requests()
    split = [int(sent.get(k, 0) - sent_before.get(k, 0)) for k in sorted(sent)]
    replies = [o for o in outcomes if isinstance(o, Reply)]
    errors = [repr(o) for o in outcomes if not isinstance(o, Reply)]
    tokens = sum(r.completion_tokens for r in replies)
    return {
        "side": side,
        "seconds": seconds,
        "completion_tokens": tokens,
        "tokens_per_s": tokens / seconds,
        "prompt_tokens": sum(r.prompt_tokens for r in replies),
        "cached_tokens": sum(r.cached_tokens or 0 for r in replies),
        "cpu_s_bench_process": cpu[0],
        "cpu_s_llama_servers": cpu[1:],
        "personae_requests_per_endpoint": split,
        "errors": errors,
        "replies": [reply_json(r) for r in replies[:4]],
    }


def endpoints_file(home: Path, urls: list[str], slots: int, context: int) -> Path:
    lines = ["models:", "  - name: smollm2", f"    context_window: {context}", "    endpoints:"]
    for url in urls:
        lines += [f"      - base_url: {url}", f"        concurrency: {slots}"]
    path = home / "endpoints.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    ports = [args.port, args.port + 1]
    with fresh_home() as home, llama_servers(ports, args.slots, args.context) as (urls, pids):
        settings = Settings(
            home=home, engine="endpoints", endpoints=endpoints_file(home, urls, args.slots,
            args.context), log_level="warning", guards="", memory=False, engine_timeout_s=3600,
        )  # fmt: skip
        runtime = await Runtime.start(settings)
        direct: list[Engine] = [
            OpenAICompatibleEngine(settings, "smollm2", base_url=url, parallel=args.slots)
            for url in urls
        ]
        try:
            personas = [(await runtime.store.get_persona(s)).persona for s in SAMPLE_PERSONAS]
            prompts = [
                (personas[i % len(personas)], MESSAGES[i % len(MESSAGES)])
                for i in range(args.conversations)
            ]
            for engine in direct:  # untimed: first-call costs, and every prefix cached
                await warm_up(engine)
            await asyncio.gather(
                *(
                    direct_turn(direct[i % 2], direct_request(p, text, args.max_tokens))
                    for i, (p, text) in enumerate(prompts)
                )
            )
            async with loopback_server(settings, runtime) as url, http_client(url) as client:
                client.timeout = httpx.Timeout(600.0)
                await api_turn(client, prompts[0][0].id, "bench-warm", "Hello there.", 4, True)
                # Untimed: one round through personae too, so each persona's prefix is cached
                # on the endpoint its affinity picks (the direct side's warm-up split them by
                # request number), and both sides start their timed rounds equally warm.
                await asyncio.gather(
                    *(
                        api_turn(client, p.id, f"bench-warm-{i}", text, args.max_tokens, True)
                        for i, (p, text) in enumerate(prompts)
                    )
                )
                rounds: list[dict[str, Any]] = []
                for round_no in range(2 * args.rounds):

                    async def api(i: int, persona: Persona, text: str, r: int = round_no) -> Reply:
                        user = f"bench-cluster-{r}-{i}"
                        return await api_turn(client, persona.id, user, text, args.max_tokens, True)

                    async def raw(i: int, persona: Persona, text: str) -> Reply:
                        return await direct_turn(
                            direct[i % 2], direct_request(persona, text, args.max_tokens)
                        )

                    first = round_no % 4 in (0, 3)  # A, B, B, A, ...
                    side, turn = ("personae", api) if first else ("direct", raw)
                    rounds.append(await one_round(side, turn, prompts, pids))
                    done = rounds[-1]
                    print(
                        f"  round {round_no + 1}: {side} {done['tokens_per_s']:.1f} tok/s, "
                        f"cached {done['cached_tokens']}/{done['prompt_tokens']} prompt tokens, "
                        f"cpu s bench {done['cpu_s_bench_process']:.1f} llama "
                        f"{[round(c, 1) for c in done['cpu_s_llama_servers']]}, per endpoint "
                        f"{done['personae_requests_per_endpoint']}",
                        flush=True,
                    )
            engine = await runtime.engines.for_model(None)
            machine = machine_info(engine, settings)
            return _result(args, rounds, machine)
        finally:
            for engine in direct:
                await engine.aclose()
            await runtime.aclose()


def _result(
    args: argparse.Namespace, rounds: list[dict[str, Any]], machine: dict[str, Any]
) -> dict[str, Any]:
    def rate(side: str) -> float:
        mine = [r for r in rounds if r["side"] == side]
        return float(sum(r["completion_tokens"] for r in mine) / sum(r["seconds"] for r in mine))

    errors = sum(len(r["errors"]) for r in rounds)
    pairs = [_pair(rounds[i], rounds[i + 1]) for i in range(0, len(rounds) - 1, 2)]
    ratio = median(pairs)
    return {
        "benchmark": "cluster_throughput",
        "target": f"ratio >= {TARGET}, errors == 0",
        "ratio": ratio,
        "errors": errors,
        "pass": ratio >= TARGET and errors == 0,
        "pair_ratios": pairs,
        "ratio_of_totals": rate("personae") / rate("direct"),
        "personae_tokens_per_s": rate("personae"),
        "direct_tokens_per_s": rate("direct"),
        "conversations": args.conversations,
        "endpoints": 2,
        "slots_per_endpoint": args.slots,
        "threads_per_endpoint": 1,
        "max_tokens": args.max_tokens,
        "rounds": rounds,
        "machine": machine,
    }


def _pair(one: dict[str, Any], other: dict[str, Any]) -> float:
    ours, theirs = (one, other) if one["side"] == "personae" else (other, one)
    return float(ours["tokens_per_s"] / theirs["tokens_per_s"])


def report(result: dict[str, Any]) -> None:
    rows = [
        [i + 1, r["side"], r["seconds"], r["completion_tokens"], r["tokens_per_s"],
         len(r["errors"])]
        for i, r in enumerate(result["rounds"])
    ]  # fmt: skip
    print_table(["round", "side", "wall_s", "tokens", "tokens/s", "errors"], rows)
    for r in result["rounds"]:
        for error in r["errors"][:3]:
            print(f"  {r['side']} error: {error}")
    print()
    print(
        f"aggregate: personae {result['personae_tokens_per_s']:.1f} tok/s, direct "
        f"{result['direct_tokens_per_s']:.1f} tok/s ({result['conversations']} concurrent over "
        f"2 llama.cpp endpoints)"
    )
    print(
        f"P6 cluster throughput   ratio {result['ratio']:.3f} (median pair; of totals "
        f"{result['ratio_of_totals']:.3f})  errors {result['errors']}  target ratio >= "
        f"{TARGET}, 0 errors  {verdict(result['pass'])}"
    )


def main() -> None:
    p = parser(__doc__.splitlines()[0] if __doc__ else "cluster_throughput")
    p.add_argument("--conversations", type=int, default=64, help="concurrent conversations")
    p.add_argument("--max-tokens", type=int, default=16, help="reply length (default 16)")
    p.add_argument("--rounds", type=int, default=3, help="rounds per side (default 3)")
    p.add_argument("--slots", type=int, default=32, help="slots per llama.cpp server")
    p.add_argument("--context", type=int, default=1024, help="context per slot, in tokens")
    p.add_argument("--port", type=int, default=21480, help="first server's port (and +1)")
    args = p.parse_args()
    warn_if_busy()
    result = asyncio.run(measure(args))
    report(result)
    write_json(args.json, result)


if __name__ == "__main__":
    main()
