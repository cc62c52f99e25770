"""Rate bucket — does a WhatsApp number's one bucket row serialise its webhooks on PostgreSQL?

Every accepted message takes a token from its person's bucket and from its channel
connection's (the number's) bucket, each one row of ``rate_buckets``; all of one number's
traffic updates the same connection row, so its row lock is held by one admission at a time.
This drives the store's own ``admit`` (as a web node does per webhook) from ``--clients``
concurrent tasks, each a different person of the same number, for ``--seconds`` per side, in
several processes (``--processes``, like web nodes): admissions/s when all clients are people
of one number (one shared connection row), and when each client has a number of its own (the
same two UPDATEs per admission, no shared row). ``ratio`` = shared ÷ own; near 1 means the
shared row costs nothing. Limits are set far above the offered load (nothing is refused).

    .venv/bin/python bench/rate_bucket.py --json bench/results/rate_bucket.json
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time
from typing import Any

from _cluster import add_cluster_args, fresh_database
from _common import machine_info, parser, print_table, warn_if_busy, write_json
from personae.settings import Settings
from personae.stores.limits import buckets_for
from personae.stores.sql import SqlStore
from personae.types import PersonRef


def _drive(url: str, shared: bool, clients: int, seconds: float, proc: int, out: Any) -> None:
    async def run() -> None:
        store = await SqlStore.open(url)
        settings = Settings(
            rate_person_per_min=1e9, rate_person_burst=1e9,
            rate_connection_per_min=1e9, rate_connection_burst=1e9,
        )  # fmt: skip
        done = 0
        refused = 0
        stop = time.perf_counter() + seconds

        async def client(n: int) -> None:
            nonlocal done, refused
            person = PersonRef("whatsapp", f"1555{proc:03d}{n:04d}")
            number = "106540352242922" if shared else f"own-{proc}-{n}"
            buckets = buckets_for(settings, person=person, connection=f"whatsapp:{number}")
            while time.perf_counter() < stop:
                admission = await store.admit(buckets, time.time(), person)
                done += 1
                refused += admission.retry_after > 0

        await asyncio.gather(*(client(n) for n in range(clients)))
        await store.aclose()
        out.put((done, refused))

    asyncio.run(run())


def side(url: str, shared: bool, args: argparse.Namespace) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    procs = [
        context.Process(target=_drive, args=(url, shared, args.clients, args.seconds, i, out))
        for i in range(args.processes)
    ]
    for proc in procs:
        proc.start()
    results = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    done = sum(r[0] for r in results)
    return {"shared_row": shared, "admissions": done,
            "refused": sum(r[1] for r in results), "per_s": done / args.seconds}  # fmt: skip


def measure(args: argparse.Namespace) -> dict[str, Any]:
    with fresh_database(args.postgres) as url:
        asyncio.run(_create(url))
        rows = []
        for round_no in range(args.rounds):  # on, off, off, on, ...
            for shared in (True, False) if round_no % 2 == 0 else (False, True):
                rows.append(side(url, shared, args))
                print(f"  {'one number ' if shared else 'own numbers'}: "
                      f"{rows[-1]['per_s']:.0f} admissions/s", flush=True)  # fmt: skip
    shared = sum(r["per_s"] for r in rows if r["shared_row"])
    own = sum(r["per_s"] for r in rows if not r["shared_row"])
    return {
        "benchmark": "rate_bucket",
        "ratio": shared / own,
        "shared_per_s": shared / args.rounds,
        "own_per_s": own / args.rounds,
        "processes": args.processes,
        "clients_per_process": args.clients,
        "seconds_per_side": args.seconds,
        "rows": rows,
        "machine": machine_info(),
    }


async def _create(url: str) -> None:
    store = await SqlStore.open(url)  # the tables, once, before the processes start
    await store.aclose()


def report(result: dict[str, Any]) -> None:
    rows = [[r["shared_row"], r["admissions"], r["refused"], r["per_s"]]
            for r in result["rows"]]  # fmt: skip
    print_table(["one number", "admissions", "refused", "per s"], rows)
    print(
        f"\nRate bucket   {result['shared_per_s']:.0f} admissions/s from people of one number, "
        f"{result['own_per_s']:.0f} from numbers of their own: ratio {result['ratio']:.3f} "
        f"({result['processes']} processes x {result['clients_per_process']} clients)"
    )


def main() -> None:
    p = parser(__doc__.splitlines()[0] if __doc__ else "rate bucket")
    add_cluster_args(p)
    p.add_argument("--processes", type=int, default=2, help="processes (web nodes)")
    p.add_argument("--clients", type=int, default=32, help="concurrent people per process")
    p.add_argument("--seconds", type=float, default=5.0, help="per side and round")
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    warn_if_busy()
    result = measure(args)
    report(result)
    write_json(args.json, result)


if __name__ == "__main__":
    main()
