"""P6 — concurrency: aggregate tokens/s of 16 concurrent conversations through the API ÷ the
engine driven directly at the same concurrency with the same prompts.

Each round sends N first turns at once (N distinct ``user``s, spread over the sample personas,
greedy, fixed max_tokens) and measures the wall time of the whole batch; tokens are counted from
usage (completion_tokens) on both sides. Rounds alternate API, direct, direct, API, … so that
drift and cache warmth even out; ``ratio`` is the median over adjacent (API, direct) pairs, and
the ratio of the totals is reported too.

    .venv/bin/python bench/concurrency.py --json bench/results/concurrency.json
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

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
    settings_for,
    verdict,
    warm_up,
    warn_if_busy,
    write_json,
)
from personae.contracts import Engine
from personae.runtime import Runtime
from personae.types import Persona

TARGET = 0.90
Turn = Callable[[int, Persona, str], Awaitable[Reply]]


async def one_round(side: str, turn: Turn, prompts: list[tuple[Persona, str]]) -> dict[str, Any]:
    """All prompts at once; returns the round's wall time, tokens and errors."""
    start = time.perf_counter()
    outcomes = await asyncio.gather(
        *(turn(i, persona, text) for i, (persona, text) in enumerate(prompts)),
        return_exceptions=True,
    )
    seconds = time.perf_counter() - start
    replies = [o for o in outcomes if isinstance(o, Reply)]
    errors = [repr(o) for o in outcomes if not isinstance(o, Reply)]
    tokens = sum(r.completion_tokens for r in replies)
    return {
        "side": side,
        "seconds": seconds,
        "completion_tokens": tokens,
        "tokens_per_s": tokens / seconds,
        "errors": errors,
        "replies": [reply_json(r) for r in replies],
    }


async def _prompts(runtime: Runtime, count: int) -> list[tuple[Persona, str]]:
    personas = [(await runtime.store.get_persona(slug)).persona for slug in SAMPLE_PERSONAS]
    return [(personas[i % len(personas)], MESSAGES[i % len(MESSAGES)]) for i in range(count)]


async def _warm(engine: Engine, prompts: list[tuple[Persona, str]], max_tokens: int) -> None:
    """Untimed: first-call costs paid, and every prompt already seen, so the first timed round
    does not recompute prefixes that all later rounds (of either side) find in the cache."""
    await warm_up(engine)
    await asyncio.gather(
        *(direct_turn(engine, direct_request(p, text, max_tokens)) for p, text in prompts)
    )


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    with fresh_home() as home:
        settings = settings_for(home, args)
        runtime = await Runtime.start(settings)
        try:
            engine = await runtime.engines.for_model(None)
            prompts = await _prompts(runtime, args.conversations)
            await _warm(engine, prompts, args.max_tokens)
            async with loopback_server(settings, runtime) as url, http_client(url) as client:
                # Untimed: the server's first request (and the client's connections) paid here.
                await api_turn(client, prompts[0][0].id, "bench-warm", "Hello there.", 4, True)
                rounds: list[dict[str, Any]] = []
                for round_no in range(2 * args.rounds):

                    async def api(i: int, persona: Persona, text: str, r: int = round_no) -> Reply:
                        user = f"bench-concurrency-{r}-{i}"
                        return await api_turn(
                            client, persona.id, user, text, args.max_tokens, args.stream
                        )

                    async def direct(i: int, persona: Persona, text: str) -> Reply:
                        return await direct_turn(
                            engine, direct_request(persona, text, args.max_tokens)
                        )

                    api_first = round_no % 4 in (0, 3)  # A, B, B, A, ...
                    side, turn = ("api", api) if api_first else ("direct", direct)
                    rounds.append(await one_round(side, turn, prompts))
            return _result(args, rounds, machine_info(engine, settings))
        finally:
            await runtime.aclose()


def _result(
    args: argparse.Namespace, rounds: list[dict[str, Any]], machine: dict[str, Any]
) -> dict[str, Any]:
    def rate(side: str) -> float:
        mine = [r for r in rounds if r["side"] == side]
        return float(sum(r["completion_tokens"] for r in mine) / sum(r["seconds"] for r in mine))

    api_tps, direct_tps = rate("api"), rate("direct")
    errors = sum(len(r["errors"]) for r in rounds)
    # Adjacent rounds form a pair (one per side); the median pair keeps a burst of load from
    # other processes, which stalls one round, out of the verdict.
    pair_ratios = [_pair_ratio(rounds[i], rounds[i + 1]) for i in range(0, len(rounds) - 1, 2)]
    ratio = median(pair_ratios)
    return {
        "benchmark": "concurrency",
        "target": f"ratio >= {TARGET}, errors == 0",
        "ratio": ratio,
        "errors": errors,
        "pass": ratio >= TARGET and errors == 0,
        "pair_ratios": pair_ratios,
        "ratio_of_totals": api_tps / direct_tps,
        "api_tokens_per_s": api_tps,
        "direct_tokens_per_s": direct_tps,
        "conversations": args.conversations,
        "max_tokens": args.max_tokens,
        "stream": args.stream,
        "rounds": rounds,
        "machine": machine,
    }


def _pair_ratio(one: dict[str, Any], other: dict[str, Any]) -> float:
    api, direct = (one, other) if one["side"] == "api" else (other, one)
    return float(api["tokens_per_s"] / direct["tokens_per_s"])


def report(result: dict[str, Any]) -> None:
    rows = [
        [
            i + 1,
            r["side"],
            r["seconds"],
            r["completion_tokens"],
            r["tokens_per_s"],
            len(r["errors"]),
        ]
        for i, r in enumerate(result["rounds"])
    ]
    print_table(["round", "side", "wall_s", "tokens", "tokens/s", "errors"], rows)
    for r in result["rounds"]:
        for error in r["errors"][:3]:
            print(f"  {r['side']} error: {error}")
    print()
    print(
        f"aggregate: api {result['api_tokens_per_s']:.1f} tok/s, "
        f"direct {result['direct_tokens_per_s']:.1f} tok/s "
        f"({result['conversations']} concurrent, stream={result['stream']})"
    )
    print(
        f"P6 concurrency   ratio {result['ratio']:.3f} (median pair; of totals "
        f"{result['ratio_of_totals']:.3f})  errors {result['errors']}  "
        f"target ratio >= {TARGET}, 0 errors  {verdict(result['pass'])}"
    )


def main() -> None:
    p = parser(__doc__.splitlines()[0] if __doc__ else "concurrency")
    p.add_argument("--conversations", type=int, default=16, help="concurrent conversations")
    p.add_argument("--max-tokens", type=int, default=32, help="reply length (default 32)")
    p.add_argument("--rounds", type=int, default=3, help="rounds per side (default 3)")
    p.add_argument(
        "--stream", action=argparse.BooleanOptionalAction, default=True, help="stream (SSE)"
    )
    args = p.parse_args()
    warn_if_busy()
    result = asyncio.run(measure(args))
    report(result)
    write_json(args.json, result)


if __name__ == "__main__":
    main()
