"""Hybrid recall: lexical and dense rankings fused (reciprocal rank fusion), nudged by a
memory's importance and recency, then taken best first within a token budget."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from personae.stores import postings
from personae.stores.stopwords import STOPWORDS
from personae.stores.vectors import VectorSet, sign_bits

WORD = postings.WORD  # what a word is, for the query as for the index
MAX_WORDS = 16


def query_words(text: str) -> list[str]:
    """The distinct content words of a query, in order (at most MAX_WORDS)."""
    seen: dict[str, None] = {}
    for word in WORD.findall(text.lower()):
        if word not in STOPWORDS and len(word) > 1:
            seen.setdefault(word, None)
    return list(seen)[:MAX_WORDS]


@dataclass(frozen=True, slots=True)
class Weights:
    # Tuned on the 10 LoCoMo conversations (bench/locomo.py; R@5 61.5 -> 65.9 together with
    # the speaker preference): full text a little above meaning, a small RRF constant (the
    # first few of each ranking count most), a larger share for neighbours.
    lexical: float = 1.2
    dense: float = 1.0
    importance: float = 0.004
    recency: float = 0.002
    candidates: int = 50  # taken from each ranking
    # Reciprocal rank fusion's constant (60, the usual value, scored 8 points lower at R@5).
    rrf_k: float = 3.0
    # Share of a memory's score its neighbours (the messages just before and after) get: a
    # question about an exchange often matches one side of it.
    neighbours: float = 0.3
    # Added to the lines of a speaker the query names ("What did Ana say about ..."); it
    # costs a little on questions that name the wrong speaker on purpose (LoCoMo's
    # adversarial category) and gains more on the others.
    speaker: float = 0.07


@dataclass(frozen=True, slots=True)
class Ranked:
    id: int
    score: float
    lexical_rank: int | None
    dense_rank: int | None


# Above this many rows a recall shortlists by Hamming distance between sign bits (48 bytes a
# row instead of 1.5 kB: a scan of 100,000 rows reads 5 MB, not 150 MB) and ranks the
# shortlist by exact cosine. Below it the exact scan is as fast and misses nothing.
EXACT_ROWS = 20_000
SHORTLIST = 2_000


def dense_ranking(index: VectorSet, query: npt.NDArray[np.float32], limit: int) -> list[int]:
    """Ids of the ``limit`` nearest memories by cosine (rows and query are unit vectors)."""
    if len(index.ids) == 0:
        return []
    rows: npt.NDArray[np.intp] | None = None
    if index.signs is not None and len(index.ids) > EXACT_ROWS:
        rows = hamming_shortlist(index.signs, sign_bits(query[None, :])[0], SHORTLIST)
        scores = index.vectors[rows] @ query
    else:
        scores = index.vectors @ query
    limit = min(limit, len(scores))
    top = np.argpartition(-scores, limit - 1)[:limit]
    top = top[np.argsort(-scores[top])]
    if rows is not None:
        top = rows[top]
    return [int(i) for i in index.ids[top]]


def lexical_ranking(index: VectorSet, words: Sequence[str], limit: int) -> list[int]:
    """Ids of the ``limit`` memories best matching ``words`` by BM25 (the set's postings)."""
    if index.postings is None or not words:
        return []
    return postings.ranking(index.postings, postings.query_codes(words), limit)


def hamming_shortlist(
    signs: npt.NDArray[np.uint64], bits: npt.NDArray[np.uint64], size: int
) -> npt.NDArray[np.intp]:
    """The rows whose sign bits are nearest ``bits``, in row order: at least ``size`` (all,
    if fewer), every row within the distance that reaches that many. Distances are small
    integers, so a histogram finds it."""
    distance = np.bitwise_count(signs[0] ^ bits[0]).astype(np.uint16)
    for word in range(1, len(signs)):
        distance += np.bitwise_count(signs[word] ^ bits[word])
    size = min(size, len(distance))
    counts = np.cumsum(np.bincount(distance))
    return np.flatnonzero(distance <= np.searchsorted(counts, size))


def named_speakers(index: VectorSet, words: Sequence[str]) -> frozenset[int]:
    """Codes of the index's speakers whose every name part is among the query's words."""
    if not index.speakers:
        return frozenset()
    said = set(words)
    return frozenset(
        code
        for code, name in enumerate(index.speakers)
        if (parts := WORD.findall(name)) and all(p in said for p in parts)
    )


def fuse(
    lexical: Sequence[int],
    dense: Sequence[int],
    index: VectorSet,
    weights: Weights,
    named: frozenset[int] = frozenset(),
    limit: int | None = None,
) -> list[Ranked]:
    """Reciprocal rank fusion of the two rankings, plus importance and recency (and a share
    for the lines of the speakers ``named``, codes of index.speakers), best first (equal
    scores in the order the candidates came), the first ``limit`` of them. In arrays: a turn
    fuses twice (memory and knowledge) and a loop over the candidates and their neighbours
    cost a millisecond each."""
    lex_rank = {mid: r for r, mid in enumerate(lexical, 1)}
    dense_rank = {mid: r for r, mid in enumerate(dense, 1)}
    ids = np.fromiter(dict.fromkeys([*lexical, *dense]), dtype=np.int64)
    if not len(ids):
        return []
    count = len(index.ids)
    base = np.zeros(len(ids))
    for ranking, weight in ((lexical, weights.lexical), (dense, weights.dense)):
        ranks = _ranks(ranking, ids)
        base += np.where(ranks > 0, weight / (weights.rrf_k + ranks), 0.0)
    # index.ids ascend (vector_set orders them): positions by binary search, not a dict of all.
    at = np.minimum(np.searchsorted(index.ids, ids), max(count - 1, 0))
    indexed = index.ids[at] == ids if count else np.zeros(len(ids), dtype=bool)
    # Scores by index position: the candidates', then their neighbours' shares.
    places, shares = [at[indexed]], [base[indexed]]
    if weights.neighbours:
        for step in (-1, 1):
            near = at[indexed] + step
            inside = (near >= 0) & (near < count)
            places.append(near[inside])
            shares.append(weights.neighbours * base[indexed][inside])
    place = np.concatenate(places)
    # First appearance order, so equal scores keep the candidates' order.
    unique, first, which = np.unique(place, return_index=True, return_inverse=True)
    score: npt.NDArray[np.float64] = np.bincount(
        which, weights=np.concatenate(shares), minlength=len(unique)
    ).astype(np.float64)
    newest = float(index.said_at.max()) if count else 0.0
    oldest = float(index.said_at.min()) if count else 0.0
    score += weights.importance * index.importance[unique]
    score += weights.recency * (index.said_at[unique] - oldest) / max(newest - oldest, 1.0)
    if named and index.speaker is not None:
        score += weights.speaker * np.isin(index.speaker[unique], list(named))
    order = np.argsort(first, kind="stable")
    unique, score = unique[order], score[order]
    # Candidates that are not in the index (removed since their ranking) keep their base.
    strays = ids[~indexed]
    all_ids = np.concatenate([index.ids[unique], strays])
    all_scores = np.concatenate([score, base[~indexed]])
    ranked = []
    for slot in np.argsort(-all_scores, kind="stable")[:limit]:
        mid = int(all_ids[slot])
        ranked.append(Ranked(mid, float(all_scores[slot]), lex_rank.get(mid), dense_rank.get(mid)))
    return ranked


def _ranks(ranking: Sequence[int], ids: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Each of ``ids``' 1-based place in ``ranking`` (its first), 0 where it is not there."""
    if not ranking:
        return np.zeros(len(ids))
    ranked = np.asarray(ranking, dtype=np.int64)
    order = np.argsort(ranked, kind="stable")
    at = np.minimum(np.searchsorted(ranked, ids, sorter=order), len(ranked) - 1)
    place = order[at]
    return np.where(ranked[place] == ids, place + 1, 0).astype(np.float64)
