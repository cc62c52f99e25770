"""How texts reach the embedding model: grouped by length into forward passes, and the bulk
texts of concurrent callers (after-turn memory jobs, documents) taken together into one pass
while queries (recall, on the reply path) never wait behind one."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from personae.embed.minilm import BATCH, PASS_TOKENS, length_chunks, load_minilm
from personae.embed.shared import SharedEmbedder


def test_texts_of_very_different_lengths_go_in_separate_passes() -> None:
    assert length_chunks([10, 60]) == [slice(0, 1), slice(1, 2)]
    assert length_chunks([30, 32, 33]) == [slice(0, 3)], "similar lengths share a pass"


def test_passes_cover_every_text_in_order_and_hold_at_most_a_batch() -> None:
    lengths = sorted([5 + (i * 37) % 120 for i in range(300)])
    runs = length_chunks(lengths)
    assert runs[0].start == 0 and runs[-1].stop == len(lengths)
    assert all(a.stop == b.start for a, b in itertools.pairwise(runs))
    assert all(0 < r.stop - r.start <= BATCH for r in runs)
    padded = sum(PASS_TOKENS + (r.stop - r.start) * lengths[r.stop - 1] for r in runs)
    one_batch_at_a_time = sum(
        PASS_TOKENS + len(lengths[i : i + BATCH]) * lengths[i : i + BATCH][-1]
        for i in range(0, len(lengths), BATCH)
    )
    assert padded <= one_batch_at_a_time


def test_a_text_embedded_among_others_equals_it_embedded_alone() -> None:
    model = load_minilm()
    texts = [
        "Hi!",
        "Ana: We went hiking on Sunday and saw a heron by the lake near the old mill.",
        "Bo: " + "A long story about the trip, the weather and the food we had. " * 8,
        "Ana: ok",
    ]
    together = model.embed(texts)
    for row, text in enumerate(texts):
        assert np.allclose(together[row], model.embed([text])[0], atol=1e-5)


async def test_bulk_texts_of_concurrent_callers_share_the_next_pass() -> None:
    calls: list[list[str]] = []
    first_running, release = threading.Event(), threading.Event()

    def embed(texts: Sequence[str]) -> npt.NDArray[np.float32]:
        calls.append(list(texts))
        if len(calls) == 1:
            first_running.set()
            release.wait(10)
        return np.array([[float(len(t)), 1.0] for t in texts], dtype=np.float32)

    shared = SharedEmbedder(embed)
    first = asyncio.ensure_future(shared.many(["a"]))
    await asyncio.to_thread(first_running.wait, 10)
    # While that pass runs, two more jobs ask: both wait for the next pass, together.
    second = asyncio.ensure_future(shared.many(["bb", "ccc"]))
    third = asyncio.ensure_future(shared.many(["dddd"]))
    await asyncio.sleep(0.05)
    release.set()
    one, two, three = await asyncio.gather(first, second, third)
    assert calls == [["a"], ["bb", "ccc", "dddd"]]
    assert one[:, 0].tolist() == [1.0]
    assert two[:, 0].tolist() == [2.0, 3.0] and three[:, 0].tolist() == [4.0]


async def test_a_query_does_not_wait_behind_a_bulk_pass() -> None:
    bulk_running, release = threading.Event(), threading.Event()

    def embed(texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if texts[0] == "document":
            bulk_running.set()
            release.wait(10)
        return np.ones((len(texts), 2), dtype=np.float32)

    shared = SharedEmbedder(embed)
    bulk = asyncio.ensure_future(shared.many(["document"]))
    await asyncio.to_thread(bulk_running.wait, 10)
    try:
        vector = await asyncio.wait_for(shared.query("what did I say?"), 5)
        assert vector.shape == (2,) and not bulk.done()
    finally:
        release.set()
    await bulk


async def test_a_failed_bulk_pass_fails_its_callers_and_the_lane_goes_on() -> None:
    def embed(texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if "bad" in texts:
            raise ValueError("cannot embed")
        return np.ones((len(texts), 2), dtype=np.float32)

    shared = SharedEmbedder(embed)
    try:
        await shared.many(["bad"])
        raise AssertionError("the failure did not reach the caller")
    except ValueError:
        pass
    assert (await shared.many(["good"])).shape == (1, 2)


async def test_a_cancelled_waiter_leaves_the_shared_query_to_the_others() -> None:
    release = threading.Event()
    calls: list[list[str]] = []

    def embed(texts: Sequence[str]) -> npt.NDArray[np.float32]:
        calls.append(list(texts))
        release.wait(10)
        return np.full((len(texts), 2), 3.0, dtype=np.float32)

    shared = SharedEmbedder(embed)
    first = asyncio.ensure_future(shared.query("same question"))
    second = asyncio.ensure_future(shared.query("same question"))
    await asyncio.sleep(0.05)  # both waiting on the one pass
    first.cancel()
    release.set()
    assert (await second).tolist() == [3.0, 3.0]
    assert calls == [["same question"]]


async def test_a_failed_query_fails_its_waiters_and_is_embedded_again_when_asked() -> None:
    failures = iter([True, False])

    def embed(texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if next(failures):
            raise ValueError("cannot embed")
        return np.ones((len(texts), 2), dtype=np.float32)

    shared = SharedEmbedder(embed)
    waiters = [shared.query("question"), shared.query("question")]
    for outcome in await asyncio.gather(*waiters, return_exceptions=True):
        assert isinstance(outcome, ValueError)
    assert (await shared.query("question")).shape == (2,)


async def test_a_begun_query_is_in_its_thread_before_the_loop_runs_a_task() -> None:
    started = threading.Event()

    def embed(texts: Sequence[str]) -> npt.NDArray[np.float32]:
        started.set()
        return np.ones((len(texts), 2), dtype=np.float32)

    embedding = SharedEmbedder(embed).begin("where did we meet?")
    # The loop stays busy (as with a lorebook's activation) and does not yield.
    assert started.wait(5)
    assert (await embedding).shape == (2,)
