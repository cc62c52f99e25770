"""Token buckets in the database: exact under concurrency, across separate stores (as several
web processes would be), refilling with time, all-or-none over several buckets."""

from __future__ import annotations

import asyncio
import uuid

from personae.stores.limits import Bucket, subject
from personae.stores.sql import SqlStore


def _bucket(rate: float = 0.001, burst: float = 5.0, what: str = "person") -> Bucket:
    return Bucket(subject("test", uuid.uuid4().hex), rate, burst, what)


async def test_a_burst_from_two_processes_gets_exactly_the_burst(database_url: str) -> None:
    bucket = _bucket(burst=10.0)
    first, second = await SqlStore.open(database_url), await SqlStore.open(database_url)
    try:
        now = 1_000_000.0
        results = await asyncio.gather(*(s.admit([bucket], now) for s in [first, second] * 20))
    finally:
        await first.aclose()
        await second.aclose()
    allowed = [r for r in results if r.retry_after == 0]
    assert len(allowed) == 10, "ten tokens, ten messages: not one more, whatever the race"
    refused = [r for r in results if r.retry_after > 0]
    assert refused and all(r.what == "person" for r in refused)
    assert min(r.retry_after for r in refused) == 1000.0  # one token at 0.001/s


async def test_tokens_come_back_with_time_and_never_past_the_burst(store: SqlStore) -> None:
    bucket = _bucket(rate=1.0, burst=2.0)
    assert [(await store.admit([bucket], 100.0)).retry_after for _ in range(3)] == [0, 0, 1.0]
    assert (await store.admit([bucket], 100.5)).retry_after == 0.5
    assert (await store.admit([bucket], 101.0)).retry_after == 0  # one token back after 1 s
    later = 10_000.0  # hours later: the bucket is full, not 9,900 tokens deep
    assert [(await store.admit([bucket], later)).retry_after for _ in range(3)] == [0, 0, 1.0]


async def test_a_refusal_by_one_bucket_spends_nothing_from_the_others(store: SqlStore) -> None:
    person, ip = _bucket(burst=5.0), _bucket(burst=1.0, what="address")
    assert (await store.admit([person, ip], 50.0)).retry_after == 0
    refused = await store.admit([person, ip], 50.0)
    assert refused.what == "address" and refused.retry_after > 0
    # The person's bucket still holds its 4 tokens: the refused message took none.
    assert [(await store.admit([person], 50.0)).retry_after for _ in range(5)][:4] == [0] * 4
    assert (await store.admit([person], 50.0)).retry_after > 0
