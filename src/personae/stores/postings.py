"""An owner's memories as a BM25 inverted index in arrays, kept beside their vectors.

Full-text search in the database scored every row matching a query word and read each match's
row to check its owner (SQLite FTS5: 6-14 ms a recall over 100,000 memories, most of a turn's
retrieval). Here an owner's rows are indexed once when their vectors are loaded and extended
with the few rows a turn adds; a query sums BM25 over the postings of its words with numpy,
and works the same on every database.

A document is a memory's text plus, for a remembered message, the message before it (a short
reply such as "Yes, last week!" says little by itself). Words are lower-case alphanumerics
without stopwords, reduced by the Porter stemmer ("adoption" and "adopted" meet as "adopt"),
and coded by CRC-32: two words sharing a code would only share a score.

Rows are numbered in the order they are indexed (ids ascending). The postings of the rows
indexed at once are sorted by word (a binary search finds a word's); those added later wait,
unsorted, in a tail that a query scans, until it grows to an eighth of the sorted part and
the two are merged. Rows deleted since stay until the index is rebuilt (their postings are
skipped by the caller's filter).
"""

from __future__ import annotations

import functools
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from personae.stores.stopwords import STOPWORDS

WORD = re.compile(r"[a-z0-9]+")
CONTEXT_CHARS = 400  # of the message before a remembered one, indexed with it
K1 = 1.2  # BM25's usual constants (FTS5's bm25() too)
B = 0.75
TAIL_SHARE = 8  # the tail is merged when it holds an eighth of the sorted postings
TAIL_FLOOR = 4096

Codes = npt.NDArray[np.uint32]


@functools.cache
def _stemmer() -> Any:
    """Loaded on first use: the package imports every language's stemmer (25 ms, 39
    modules), which a process that never recalls need not pay at start-up."""
    import snowballstemmer

    return snowballstemmer.stemmer("porter")


@functools.lru_cache(maxsize=200_000)
def _code(word: str) -> int:
    """A word's stem as a CRC-32 (cached: stemming costs about 20 us a word)."""
    return zlib.crc32(_stemmer().stemWord(word).encode())


def terms(text: str) -> list[int]:
    """The codes of a text's content words, in order (repeats kept)."""
    return [_code(w) for w in WORD.findall(text.lower()) if len(w) > 1 and w not in STOPWORDS]


def query_codes(words: Iterable[str]) -> Codes:
    """The distinct codes of a query's words (already lower-case content words)."""
    return np.unique(np.fromiter((_code(w) for w in words), dtype=np.uint32))


@dataclass(frozen=True, slots=True)
class Postings:
    ids: npt.NDArray[np.int64]  # each indexed row's id, by row number (ascending)
    lengths: npt.NDArray[np.int32]  # each row's words (with its context's)
    words: Codes  # the sorted part: distinct codes, ascending
    starts: npt.NDArray[np.int64]  # where each code's postings start (and the last ends)
    rows: npt.NDArray[np.int32]  # each posting's row number
    counts: npt.NDArray[np.uint16]  # how often the word is in that row
    tail_words: Codes  # postings added since the sort, unsorted
    tail_rows: npt.NDArray[np.int32]
    tail_counts: npt.NDArray[np.uint16]
    context: str = ""  # the newest remembered message: the context of the next one


def documents(
    rows: Iterable[tuple[int, str, str]], context: str = ""
) -> tuple[list[int], list[list[int]], str]:
    """Ids and word codes of rows (id, kind, text), ascending ids; each remembered message
    (kind "episode") with the one before it (``context``: the one before the first)."""
    ids: list[int] = []
    docs: list[list[int]] = []
    before = terms(context[-CONTEXT_CHARS:])
    for row_id, kind, text in rows:
        own = terms(text)
        if kind == "episode":
            docs.append(before + own)
            # The usual message is shorter than the context taken of it: its words are reused.
            before = own if len(text) <= CONTEXT_CHARS else terms(text[-CONTEXT_CHARS:])
            context = text
        else:
            docs.append(own)
        ids.append(row_id)
    return ids, docs, context


def _flat(
    docs: Sequence[list[int]], first: int
) -> tuple[Codes, npt.NDArray[np.int32], npt.NDArray[np.uint16]]:
    """Postings of ``docs`` (rows numbered from ``first``): one per distinct word of a row,
    sorted by word."""
    lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
    codes = np.fromiter((c for d in docs for c in d), dtype=np.uint32, count=int(lengths.sum()))
    rows = np.repeat(np.arange(first, first + len(docs), dtype=np.int64), lengths)
    # One key per (word, row): their distinct values are the postings, their repeats the counts.
    keys, counts = np.unique((codes.astype(np.uint64) << np.uint64(32)) | rows.astype(np.uint64),
                             return_counts=True)  # fmt: skip
    return (
        (keys >> np.uint64(32)).astype(np.uint32),
        (keys & np.uint64(0xFFFFFFFF)).astype(np.int32),
        np.minimum(counts, np.iinfo(np.uint16).max).astype(np.uint16),
    )


def build(ids: Sequence[int], docs: Sequence[list[int]], context: str) -> Postings:
    """The index of rows ``ids`` (ascending) with their word codes ``docs``."""
    words, rows, counts = _flat(docs, 0)
    distinct, starts = _starts(words)
    none32, none16 = np.empty(0, np.int32), np.empty(0, np.uint16)
    return Postings(
        np.asarray(ids, dtype=np.int64), _lengths(docs), distinct, starts, rows, counts,
        np.empty(0, np.uint32), none32, none16, context,
    )  # fmt: skip


def appended(known: Postings, added: Postings) -> Postings:
    """``known`` with the rows of ``added`` (ids after its last) put in the tail, which is
    merged into the sorted part once it is large enough."""
    if not len(added.ids):
        return known if added.context == known.context else replace(known, context=added.context)
    words = np.concatenate([np.repeat(added.words, np.diff(added.starts)), added.tail_words])
    rows = np.concatenate([added.rows, added.tail_rows]) + np.int32(len(known.ids))
    grown = Postings(
        np.concatenate([known.ids, added.ids]),
        np.concatenate([known.lengths, added.lengths]),
        known.words, known.starts, known.rows, known.counts,
        np.concatenate([known.tail_words, words]),
        np.concatenate([known.tail_rows, rows]),
        np.concatenate([known.tail_counts, added.counts, added.tail_counts]),
        added.context,
    )  # fmt: skip
    if len(grown.tail_rows) * TAIL_SHARE < max(len(grown.rows), TAIL_FLOOR * TAIL_SHARE):
        return grown
    return _merged(grown)


def _merged(p: Postings) -> Postings:
    """The tail sorted into the sorted part."""
    words = np.concatenate([np.repeat(p.words, np.diff(p.starts)), p.tail_words])
    order = np.argsort(words, kind="stable")  # within a word, rows stay ascending
    distinct, starts = _starts(words[order])
    rows = np.concatenate([p.rows, p.tail_rows])[order]
    counts = np.concatenate([p.counts, p.tail_counts])[order]
    none32, none16 = np.empty(0, np.int32), np.empty(0, np.uint16)
    return Postings(p.ids, p.lengths, distinct, starts, rows, counts,
                    np.empty(0, np.uint32), none32, none16, p.context)  # fmt: skip


def _starts(words: Codes) -> tuple[Codes, npt.NDArray[np.int64]]:
    distinct, first = np.unique(words, return_index=True)
    return distinct, np.append(first, len(words)).astype(np.int64)


def _lengths(docs: Sequence[list[int]]) -> npt.NDArray[np.int32]:
    return np.fromiter((len(d) for d in docs), dtype=np.int32, count=len(docs))


def kept(p: Postings, alive: npt.NDArray[np.int64]) -> Postings:
    """The index without rows whose ids are not in ``alive`` (ascending), renumbered."""
    keep = np.isin(p.ids, alive, assume_unique=True)
    if keep.all():
        return p
    number = np.cumsum(keep, dtype=np.int64) - 1
    main, tail = keep[p.rows], keep[p.tail_rows]
    words = np.repeat(p.words, np.diff(p.starts))[main]
    distinct, starts = _starts(words)
    return Postings(
        p.ids[keep], p.lengths[keep], distinct, starts,
        number[p.rows[main]].astype(np.int32), p.counts[main],
        p.tail_words[tail], number[p.tail_rows[tail]].astype(np.int32), p.tail_counts[tail],
        p.context,
    )  # fmt: skip


def ranking(p: Postings, codes: Codes, limit: int) -> list[int]:
    """Ids of the ``limit`` rows scoring best by BM25 for the words ``codes`` (distinct,
    ascending), best first; among equal scores the newer row first."""
    if not len(p.ids) or not len(codes) or limit <= 0:
        return []
    at = np.minimum(np.searchsorted(p.words, codes), max(len(p.words) - 1, 0))
    rows: list[npt.NDArray[np.int32]] = []
    counts: list[npt.NDArray[np.uint16]] = []
    for code, place in zip(codes, at, strict=True):
        sorted_part = slice(int(p.starts[place]), int(p.starts[place + 1]))
        if not len(p.words) or p.words[place] != code:
            sorted_part = slice(0, 0)
        in_tail = p.tail_words == code
        rows.append(np.concatenate([p.rows[sorted_part], p.tail_rows[in_tail]]))
        counts.append(np.concatenate([p.counts[sorted_part], p.tail_counts[in_tail]]))
    frequency = np.fromiter((len(r) for r in rows), dtype=np.float64, count=len(rows))
    if not frequency.any():
        return []
    # A word's weight by how rare it is (BM25's idf, never negative), one per posting.
    idf = np.repeat(
        np.log1p((len(p.ids) - frequency + 0.5) / (frequency + 0.5)), frequency.astype(np.int64)
    )
    row = np.concatenate(rows)
    tf = np.concatenate(counts).astype(np.float64)
    norm = K1 * (1 - B + B * p.lengths[row] / max(float(p.lengths.mean()), 1.0))
    summed = np.bincount(row, weights=idf * tf * (K1 + 1) / (tf + norm))
    hit = np.flatnonzero(summed)
    if len(hit) > limit:
        hit = hit[np.argpartition(-summed[hit], limit - 1)[:limit]]
    top = hit[np.lexsort((-hit, -summed[hit]))]
    return [int(i) for i in p.ids[top]]
