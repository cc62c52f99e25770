"""The in-process full-text index (stores/postings.py): BM25 as the textbook scores it, the
message before an episode indexed with it, and an index grown a few rows at a time (tail,
merge, rows dropped) ranking exactly as one built at once."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from personae.stores import postings as p

ROWS = [
    (1, "episode", "Ana: I adopted a grey cat named Miso last spring"),
    (2, "episode", "Bo: Lovely! How is Miso settling in?"),
    (3, "fact", "They live in Lisbon"),
    (4, "episode", "Ana: Miso sleeps all day, the adoption went well"),
    (5, "summary", "Ana talked about her cat and her flat in Lisbon, near the river"),
]


def _index(rows: list[tuple[int, str, str]]) -> p.Postings:
    return p.build(*p.documents(rows))


def _rank(index: p.Postings, *words: str, limit: int = 10) -> list[int]:
    return p.ranking(index, p.query_codes(words), limit)


def test_words_are_stemmed_and_stopwords_left_out() -> None:
    assert p.terms("The adoption of cats") == p.terms("adopted cat")
    assert p.terms("the and of a") == []
    index = _index(ROWS)
    assert _rank(index, "adopting") == [1, 4, 2], "the reply carries the message before it"
    assert _rank(index, "penguin") == []
    assert _rank(index, "miso", limit=0) == []


def test_scores_are_bm25() -> None:
    index = _index(ROWS)
    total = len(ROWS)
    average = float(index.lengths.mean())

    def bm25(row: int, word: str) -> float:
        code = p.query_codes([word])[0]
        docs = [p.terms(t) for t in _texts_with_context()]
        tf = docs[row].count(int(code))
        df = sum(int(code) in d for d in docs)
        idf = math.log(1 + (total - df + 0.5) / (df + 0.5))
        norm = p.K1 * (1 - p.B + p.B * len(docs[row]) / average)
        return idf * tf * (p.K1 + 1) / (tf + norm) if tf else 0.0

    for word in ("miso", "lisbon", "cat"):
        expected = sorted(range(total), key=lambda r: (-bm25(r, word), -r))
        expected = [ROWS[r][0] for r in expected if bm25(r, word) > 0]
        assert _rank(index, word) == expected, word
    # Two words: the row with both first; a rare word outweighs a common one.
    assert _rank(index, "lisbon", "river")[0] == 5
    assert _rank(index, "miso", "spring")[0] == 1


def _texts_with_context() -> list[str]:
    texts, before = [], ""
    for _, kind, text in ROWS:
        texts.append(f"{before} {text}" if kind == "episode" and before else text)
        before = text if kind == "episode" else before
    return texts


def test_an_index_grown_row_by_row_ranks_as_one_built_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(p, "TAIL_FLOOR", 16)  # merge within a few hundred rows
    rng = random.Random(4)
    vocabulary = [f"word{n}" for n in range(60)]
    rows = [
        (i, rng.choice(["episode", "episode", "fact"]),
         " ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 12))))
        for i in range(1, 400)
    ]  # fmt: skip
    whole = _index(rows)
    grown = _index(rows[:50])
    merged_once = False
    for start in range(50, len(rows), 7):
        added = p.build(*p.documents(rows[start : start + 7], grown.context))
        grown = p.appended(grown, added)
        merged_once |= len(grown.tail_rows) == 0
    assert merged_once, "the tail was merged into the sorted part at least once"
    assert grown.ids.tolist() == whole.ids.tolist()
    assert grown.lengths.tolist() == whole.lengths.tolist()
    for n in range(0, 60, 5):
        words = (vocabulary[n], vocabulary[(n * 7) % 60])
        assert _rank(grown, *words, limit=25) == _rank(whole, *words, limit=25), words

    # Rows dropped (forgotten, retired): the same as an index of the rows kept.
    alive = np.array([i for i, _, _ in rows if i % 3], dtype=np.int64)
    kept = p.kept(grown, alive)
    assert kept.ids.tolist() == alive.tolist()
    for n in range(0, 60, 6):
        found = _rank(kept, vocabulary[n], limit=400)
        assert found and all(i % 3 for i in found)
        assert set(found) == {i for i in _rank(grown, vocabulary[n], limit=400) if i % 3}
