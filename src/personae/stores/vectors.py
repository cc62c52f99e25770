"""A set of memory (or knowledge) vectors as arrays: the dense index one recall ranks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class VectorSet:
    """The recallable memories of one owner (or a persona's chunks) as arrays."""

    version: int
    ids: npt.NDArray[np.int64]
    vectors: Vector  # (n, dim), unit rows
    importance: npt.NDArray[np.float32]
    said_at: npt.NDArray[np.float64]  # POSIX seconds
    # The vectors' signs packed 64 to a word, one row per word (words, n): a Hamming scan
    # over these shortlists the nearest rows of a large set for an exact cosine
    # (recall.dense_ranking); word-major, so the scan adds whole contiguous columns.
    signs: npt.NDArray[np.uint64] | None = None
    # Who said each episode, as an index into ``speakers`` (lower-case names; -1: not an
    # episode), so a query that names someone can prefer their lines.
    speaker: npt.NDArray[np.int32] | None = None
    speakers: tuple[str, ...] = ()


def sign_bits(vectors: Vector) -> npt.NDArray[np.uint64]:
    """Each row's signs as bits, padded to whole 64-bit words."""
    if vectors.shape[1] % 64:
        pad = np.zeros((len(vectors), 64 - vectors.shape[1] % 64), dtype=np.float32)
        vectors = np.hstack([vectors, pad])
    packed = np.packbits(vectors > 0, axis=1)
    return np.ascontiguousarray(packed).view(np.uint64)
