"""P1 — API overhead: the same greedy turns through /v1/chat/completions and straight to the engine.

Both sides share one model (the server runs in this process on the same Runtime). The direct
side sends the engine exactly the request the turn pipeline built for that message (persona
prefix, safety notes, the person's message: whatever the pipeline assembles), recorded from an
untimed API turn of another fresh person just before; each API turn has its own ``user``, so it
is a fresh stored conversation. Same prompt, greedy: the replies are identical, and the table
says so per turn. That untimed turn also leaves the exact prompt cached, so both sides find the
same cache state; sides still alternate A,B then B,A against drift. ``ratio`` is the median
of the per-turn ratios (robust to bursts of load from other processes); the ratio of the totals
is reported too.

    .venv/bin/python bench/overhead.py --json bench/results/overhead.json
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from _common import (
    MESSAGES,
    Reply,
    api_turn,
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
from personae.types import GenerationChunk, GenerationRequest

TARGET = 1.05


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    with fresh_home() as home:
        settings = settings_for(home, args)
        runtime = await Runtime.start(settings)
        try:
            engine = await runtime.engines.for_model(None)
            persona = (await runtime.store.get_persona(args.persona)).persona
            await warm_up(engine)
            async with loopback_server(settings, runtime) as url, http_client(url) as client:

                async def api(index: int, text: str) -> Reply:
                    user = f"bench-overhead-{index}"
                    return await api_turn(
                        client, persona.id, user, text, args.max_tokens, args.stream
                    )

                sent = record_requests(engine)

                async def pipeline_request(index: int, text: str) -> GenerationRequest:
                    """The request the pipeline builds for ``text`` (an untimed API turn of
                    another fresh person, which also caches this exact prompt)."""
                    sent.clear()
                    await api(-1000 - index, text)
                    return replace(sent[-1], max_tokens=args.max_tokens)

                await api(-1, "Hello there.")  # untimed: first-call costs paid once
                pairs = []
                for index in range(args.turns):
                    text = MESSAGES[index % len(MESSAGES)]
                    request = await pipeline_request(index, text)

                    async def direct(
                        _: int, __: str, request: GenerationRequest = request
                    ) -> Reply:
                        return await direct_turn(engine, request)

                    sides = (api, direct) if index % 2 == 0 else (direct, api)
                    first = await sides[0](index, text)
                    second = await sides[1](index, text)
                    pairs.append((first, second) if index % 2 == 0 else (second, first))
            return _result(args, pairs, machine_info(engine, settings))
        finally:
            await runtime.aclose()


def record_requests(engine: Engine) -> list[GenerationRequest]:
    """Every request the engine is asked to generate, in order (this process only; the bench
    wraps the shared engine's method so the direct side can replay the pipeline's request)."""
    sent: list[GenerationRequest] = []
    generate = engine.generate

    def recording(request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        sent.append(request)
        return generate(request)

    engine.generate = recording  # type: ignore[method-assign]
    return sent


def same(api: Reply, direct: Reply) -> bool:
    """The same generated text: with guards on, the platform floor's AI disclosure opens a
    fresh conversation's first reply, before what the model wrote."""
    return api.text.endswith(direct.text)


def _result(
    args: argparse.Namespace, pairs: list[tuple[Reply, Reply]], machine: dict[str, Any]
) -> dict[str, Any]:
    api_s = sum(a.seconds for a, _ in pairs)
    direct_s = sum(d.seconds for _, d in pairs)
    # Median of per-turn ratios: a burst of load from other processes hits one pair, not the
    # verdict (on a shared machine a single stalled turn can swing the ratio of totals).
    ratio = median([a.seconds / d.seconds for a, d in pairs])
    return {
        "benchmark": "overhead",
        "target": f"ratio <= {TARGET}",
        "ratio": ratio,
        "pass": ratio <= TARGET,
        "ratio_of_totals": api_s / direct_s,
        "api_s": api_s,
        "direct_s": direct_s,
        "api_median_s": median([a.seconds for a, _ in pairs]),
        "direct_median_s": median([d.seconds for _, d in pairs]),
        "identical_replies": sum(same(a, d) for a, d in pairs),
        "turns": args.turns,
        "max_tokens": args.max_tokens,
        "stream": args.stream,
        "persona": args.persona,
        "raw": [{"api": reply_json(a), "direct": reply_json(d)} for a, d in pairs],
        "machine": machine,
    }


def report(result: dict[str, Any]) -> None:
    rows = []
    for index, pair in enumerate(result["raw"]):
        api, direct = pair["api"], pair["direct"]
        rows.append(
            [
                index + 1,
                api["seconds"],
                direct["seconds"],
                api["seconds"] / direct["seconds"],
                f"{api['completion_tokens']}/{direct['completion_tokens']}",
                "yes" if api["text"].endswith(direct["text"]) else "NO",
            ]
        )
    print_table(["turn", "api_s", "direct_s", "api/direct", "tokens a/d", "same"], rows)
    print()
    print(
        f"total: api {result['api_s']:.2f} s, direct {result['direct_s']:.2f} s; "
        f"median: api {result['api_median_s']:.3f} s, direct {result['direct_median_s']:.3f} s; "
        f"identical replies {result['identical_replies']}/{result['turns']}"
    )
    print(
        f"P1 API overhead  ratio {result['ratio']:.3f} (median per turn; of totals "
        f"{result['ratio_of_totals']:.3f})  target <= {TARGET}  {verdict(result['pass'])}"
    )


def main() -> None:
    p = parser(__doc__.splitlines()[0] if __doc__ else "overhead")
    p.add_argument("--turns", type=int, default=20, help="timed turns per side (default 20)")
    p.add_argument("--max-tokens", type=int, default=32, help="reply length (default 32)")
    p.add_argument("--persona", default="cooking-coach", help="sample persona to talk to")
    p.add_argument("--stream", action="store_true", help="stream the API replies (SSE)")
    args = p.parse_args()
    warn_if_busy()
    result = asyncio.run(measure(args))
    report(result)
    write_json(args.json, result)


if __name__ == "__main__":
    main()
