"""Hashed word and character n-gram features: text to a sparse, L2-normalised vector.

The same code turns training text and live messages into features, so the shipped weights
mean the same thing at run time. Hashing uses blake2b (stable across processes, unlike hash()).
"""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
from hashlib import blake2b

DIMENSIONS = 1 << 16
_WORD = re.compile(r"[a-z0-9']+")


def normalise(text: str) -> str:
    """Lower case, compatibility forms folded (full-width letters, ligatures), accents off."""
    folded = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in folded if not unicodedata.combining(c))


def _bucket(token: str) -> int:
    digest = blake2b(token.encode("utf-8"), digest_size=4).digest()
    return int.from_bytes(digest, "little") % DIMENSIONS


def tokens(text: str) -> list[str]:
    words = _WORD.findall(normalise(text))
    out = [f"w:{w}" for w in words]
    out += [f"b:{a} {b}" for a, b in itertools.pairwise(words)]
    for word in words:
        padded = f"<{word}>"
        for n in (3, 4, 5):
            out += [f"c:{padded[i : i + n]}" for i in range(max(len(padded) - n + 1, 0))]
    return out


def featurise(text: str) -> dict[int, float]:
    """Sparse feature vector: bucket -> sublinear count, L2-normalised."""
    counts: dict[int, float] = {}
    for token in tokens(text):
        bucket = _bucket(token)
        counts[bucket] = counts.get(bucket, 0.0) + 1.0
    weighted = {k: 1.0 + math.log(v) for k, v in counts.items()}
    norm = math.sqrt(sum(v * v for v in weighted.values())) or 1.0
    return {k: v / norm for k, v in weighted.items()}
