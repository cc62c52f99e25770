"""Hybrid recall: lexical and dense rankings fused (reciprocal rank fusion), nudged by a
memory's importance and recency, then taken best first within a token budget."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from personae.stores.vectors import VectorSet, sign_bits

WORD = re.compile(r"[a-z0-9]+")
# Words that say nothing about which memory is meant.
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "did",
        "do",
        "does",
        "doing",
        "don",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "s",
        "t",
        "d",
        "ll",
        "m",
        "re",
        "ve",
        "ever",
        "also",
        "get",
        "got",
        "go",
        "going",
        "know",
        "like",
        "really",
        "think",
        "thing",
        "things",
        "one",
        "yeah",
        "oh",
        "hey",
        "hi",
        "okay",
        "ok",
        "well",
        "much",
        "many",
    ]
)
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


def hamming_shortlist(
    signs: npt.NDArray[np.uint64], bits: npt.NDArray[np.uint64], size: int
) -> npt.NDArray[np.intp]:
    """The ``size`` rows (all, if fewer) whose sign bits are nearest ``bits``, in row order;
    at the cut-off distance the first rows are taken. Distances are small integers, so a
    histogram finds the cut-off."""
    distance = np.bitwise_count(signs[0] ^ bits[0]).astype(np.uint16)
    for word in range(1, len(signs)):
        distance += np.bitwise_count(signs[word] ^ bits[word])
    size = min(size, len(distance))
    counts = np.cumsum(np.bincount(distance))
    cutoff = int(np.searchsorted(counts, size))
    below = np.flatnonzero(distance < cutoff)
    at = np.flatnonzero(distance == cutoff)[: size - len(below)]
    return np.union1d(below, at)


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
) -> list[Ranked]:
    """Reciprocal rank fusion of the two rankings, plus importance and recency (and a share
    for the lines of the speakers ``named``, codes of index.speakers), best first."""
    lex_rank = {mid: r for r, mid in enumerate(lexical, 1)}
    dense_rank = {mid: r for r, mid in enumerate(dense, 1)}
    ids = list(dict.fromkeys([*lexical, *dense]))
    if not ids:
        return []
    # index.ids ascend (vector_set orders them): positions by binary search, not a dict of all.
    found = np.searchsorted(index.ids, np.asarray(ids, dtype=np.int64))
    position = {
        mid: int(at)
        for mid, at in zip(ids, found, strict=True)
        if at < len(index.ids) and int(index.ids[at]) == mid
    }
    newest = float(index.said_at.max()) if len(index.said_at) else 0.0
    oldest = float(index.said_at.min()) if len(index.said_at) else 0.0
    span = max(newest - oldest, 1.0)
    scores: dict[int, float] = {}
    for mid in ids:
        score = 0.0
        if mid in lex_rank:
            score += weights.lexical / (weights.rrf_k + lex_rank[mid])
        if mid in dense_rank:
            score += weights.dense / (weights.rrf_k + dense_rank[mid])
        scores[mid] = score
    if weights.neighbours:
        for mid, score in list(scores.items()):
            at = position.get(mid)
            if at is None:
                continue
            for near in (at - 1, at + 1):
                if 0 <= near < len(index.ids):
                    other = int(index.ids[near])
                    scores[other] = scores.get(other, 0.0) + weights.neighbours * score
                    position.setdefault(other, near)
    ranked = []
    for mid, score in scores.items():
        at = position.get(mid)
        if at is not None:
            score += weights.importance * float(index.importance[at])
            score += weights.recency * (float(index.said_at[at]) - oldest) / span
            if named and index.speaker is not None and int(index.speaker[at]) in named:
                score += weights.speaker
        ranked.append(Ranked(mid, score, lex_rank.get(mid), dense_rank.get(mid)))
    ranked.sort(key=lambda r: -r.score)
    return ranked
