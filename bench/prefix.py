"""P2 — prefix cache: time to first token for a persona's second person ÷ its first person's.

A fresh server (fresh PERSONAE_HOME, fresh engine, empty cache) takes, for each sample persona in
turn, person A's first message (the persona prefix is cold) and then person B's (the prefix was
just computed for A). TTFT is measured by the client: request sent -> first non-empty content
chunk of the SSE stream. The persona-independent warm-up keeps first-call costs out of A's time.
Safety guards are off here: with them, the first chunk is the AI disclosure, a fixed line sent
before the model speaks (bench/safety.py and bench/overhead.py measure the guarded path).

    .venv/bin/python bench/prefix.py --json bench/results/prefix.json
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import httpx

from _common import (
    SAMPLE_PERSONAS,
    Reply,
    api_turn,
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
from personae.runtime import Runtime

TARGET = 0.30
MESSAGE_A = "Hi! What can you help me with today?"
MESSAGE_B = "Hello! Can you give me a tip for a busy week?"


async def one_server(args: argparse.Namespace, round_no: int) -> tuple[list[dict[str, Any]], Any]:
    """A fresh home and server; each persona once: A (cold prefix), then B (warm prefix)."""
    rows: list[dict[str, Any]] = []
    with fresh_home() as home:
        # The model's first token, not the guard's disclosure line (see above).
        settings = settings_for(home, args).model_copy(update={"guards": ""})
        runtime = await Runtime.start(settings)
        try:
            engine = await runtime.engines.for_model(None)
            await warm_up(engine)
            async with loopback_server(settings, runtime) as url, http_client(url) as client:
                for slug in args.personas:
                    cold = await _ask(client, slug, f"a-{round_no}", MESSAGE_A, args.max_tokens)
                    warm = await _ask(client, slug, f"b-{round_no}", MESSAGE_B, args.max_tokens)
                    rows.append(_row(slug, round_no, cold, warm))
            return rows, machine_info(engine, settings)
        finally:
            await runtime.aclose()


async def _ask(
    client: httpx.AsyncClient, slug: str, person: str, text: str, max_tokens: int
) -> Reply:
    user = f"bench-prefix-{slug}-{person}"
    reply = await api_turn(client, slug, user, text, max_tokens, stream=True)
    if reply.ttft_s is None:
        raise RuntimeError(f"{slug}: the stream carried no text; raise --max-tokens")
    return reply


def _row(slug: str, round_no: int, cold: Reply, warm: Reply) -> dict[str, Any]:
    assert cold.ttft_s is not None and warm.ttft_s is not None
    return {
        "persona": slug,
        "round": round_no,
        "cold_ttft_s": cold.ttft_s,
        "warm_ttft_s": warm.ttft_s,
        "ratio": warm.ttft_s / cold.ttft_s,
        "cold": reply_json(cold),
        "warm": reply_json(warm),
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    machine: dict[str, Any] = {}
    for round_no in range(args.rounds):
        found, machine = await one_server(args, round_no)
        rows.extend(found)
    ttft_ratio = median([row["ratio"] for row in rows])
    return {
        "benchmark": "prefix",
        "target": f"ttft_ratio <= {TARGET}",
        "ttft_ratio": ttft_ratio,
        "pass": ttft_ratio <= TARGET,
        "median_cold_ttft_s": median([row["cold_ttft_s"] for row in rows]),
        "median_warm_ttft_s": median([row["warm_ttft_s"] for row in rows]),
        "max_tokens": args.max_tokens,
        "rounds": args.rounds,
        "personas": rows,
        "machine": machine,
    }


def report(result: dict[str, Any]) -> None:
    rows = [
        [
            row["persona"],
            row["round"],
            row["cold"]["prompt_tokens"],
            row["cold_ttft_s"],
            row["warm"]["prompt_tokens"],
            row["warm"]["cached_tokens"],
            row["warm_ttft_s"],
            row["ratio"],
        ]
        for row in result["personas"]
    ]
    headers = ["persona", "round", "A prompt", "A ttft_s", "B prompt", "B cached", "B ttft_s"]
    print_table([*headers, "B/A"], rows)
    print()
    print(
        f"P2 prefix cache  ttft_ratio {result['ttft_ratio']:.3f} (median over personas)  "
        f"target <= {TARGET}  {verdict(result['pass'])}"
    )


def main() -> None:
    p = parser(__doc__.splitlines()[0] if __doc__ else "prefix")
    p.add_argument("--max-tokens", type=int, default=8, help="reply length (default 8)")
    p.add_argument("--rounds", type=int, default=3, help="fresh servers to repeat on (default 3)")
    p.add_argument(
        "--personas", nargs="+", default=list(SAMPLE_PERSONAS), help="sample personas to use"
    )
    args = p.parse_args()
    warn_if_busy()
    result = asyncio.run(measure(args))
    report(result)
    write_json(args.json, result)


if __name__ == "__main__":
    main()
