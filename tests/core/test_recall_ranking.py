"""Recall's ranking parts: the sign-bit shortlist of a large vector set, the preference for
the lines of a speaker the query names, and one embedding per query however many sources
ask for it at once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from personae.embed.shared import SharedEmbedder
from personae.memory.recall import (
    EXACT_ROWS,
    SHORTLIST,
    Weights,
    dense_ranking,
    fuse,
    hamming_shortlist,
    named_speakers,
)
from personae.stores.vectors import VectorSet, sign_bits


def _index(vectors: npt.NDArray[np.float32], speakers: Sequence[int] = ()) -> VectorSet:
    n = len(vectors)
    return VectorSet(
        1,
        np.arange(1, n + 1, dtype=np.int64),
        vectors,
        np.zeros(n, dtype=np.float32),
        np.zeros(n, dtype=np.float64),
        np.ascontiguousarray(sign_bits(vectors).T),
        np.asarray(speakers, dtype=np.int32) if speakers else None,
        ("ana", "bo") if speakers else (),
    )


def _unit(rows: int, seed: int) -> npt.NDArray[np.float32]:
    v = np.random.default_rng(seed).standard_normal((rows, 384)).astype(np.float32)
    out: npt.NDArray[np.float32] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def test_a_large_set_is_shortlisted_by_sign_bits_and_keeps_the_nearest_rows() -> None:
    rows = EXACT_ROWS + 5000
    centres = _unit(50, 1)
    # Clustered like real embeddings: each row near one of 50 topics.
    noise = _unit(rows, 2) * 0.6
    vectors = centres[np.arange(rows) % 50] + noise
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors.astype(np.float32)
    index = _index(vectors)
    query = vectors[123] + 0.05 * _unit(1, 3)[0]
    query = (query / np.linalg.norm(query)).astype(np.float32)
    shortlist = hamming_shortlist(index.signs, sign_bits(query[None, :])[0], SHORTLIST)  # type: ignore[arg-type]
    assert SHORTLIST <= len(shortlist) < SHORTLIST * 1.5, "every row within the cut-off"
    assert np.all(np.diff(shortlist) > 0), "in row order"
    exact = np.argsort(-(vectors @ query))[:20] + 1
    found = dense_ranking(index, query, 20)
    assert found[0] == 124, "the row the query was made from comes first"
    assert len(set(found) & set(exact.tolist())) >= 18


def test_the_lines_of_a_speaker_the_query_names_are_preferred() -> None:
    vectors = _unit(4, 5)
    index = _index(vectors, speakers=[0, 1, 0, 1])  # rows 1, 3: Ana's; 2, 4: Bo's
    assert named_speakers(index, ["what", "did", "bo", "paint"]) == frozenset({1})
    assert named_speakers(index, ["paint"]) == frozenset()
    lexical, dense = [1, 2], [1, 2]
    plain = fuse(lexical, dense, index, Weights(neighbours=0.0))
    assert plain[0].id == 1
    preferring = fuse(lexical, dense, index, Weights(neighbours=0.0, speaker=0.2), frozenset({1}))
    assert preferring[0].id == 2


async def test_one_query_asked_by_two_sources_at_once_is_embedded_once() -> None:
    calls: list[list[str]] = []

    def embed(texts: Sequence[str]) -> npt.NDArray[np.float32]:
        calls.append(list(texts))
        return np.ones((len(texts), 4), dtype=np.float32)

    shared = SharedEmbedder(embed)
    first, second = await asyncio.gather(shared.query("hello"), shared.query("hello"))
    assert calls == [["hello"]] and np.array_equal(first, second)
    await shared.query("other")
    assert calls == [["hello"], ["other"]]
