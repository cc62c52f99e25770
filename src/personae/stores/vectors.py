"""A set of memory (or knowledge) vectors as arrays: the dense index one recall ranks."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from personae.stores import postings as full_text

Vector = npt.NDArray[np.float32]


class Room:
    """A vectors buffer with rows to spare, and how many of them the newest set over it
    uses: a set that grows by a few rows a turn writes them after its own instead of
    copying all of them (150 MB for 100,000 memories) into a fresh array."""

    __slots__ = ("buffer", "used")

    def __init__(self, buffer: Vector, used: int) -> None:
        self.buffer = buffer
        self.used = used


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
    room: Room | None = field(default=None, compare=False, repr=False)
    # Memory sets: the owner's rows, retired ones too, counted just before the set's rows
    # were read (memory_search.vector_changes); -1: not counted.
    owned: int = -1
    # Memory sets: the same rows' words, the index full-text recall ranks (stores/postings).
    postings: full_text.Postings | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class VectorChanges:
    """What changed in an owner's recallable rows since a set of them was read."""

    version: int
    added: VectorSet  # the rows after the set's last id (speaker codes extend the set's)
    kept: npt.NDArray[np.int64] | None  # ids of the set's rows still recallable; None: all
    whole: bool = False  # ``added`` is the whole set, read again


def updated(known: VectorSet, changes: VectorChanges) -> VectorSet:
    """``known`` with ``changes`` applied: rows no longer recallable dropped, the added ones
    appended (ids keep ascending). Not thread-safe: the owner's cache calls it on one loop."""
    if changes.whole or not len(known.ids):
        return changes.added
    if changes.kept is not None:
        keep = np.isin(known.ids, changes.kept, assume_unique=True)
        words = None if known.postings is None else full_text.kept(known.postings, changes.kept)
        known = VectorSet(
            known.version, known.ids[keep], np.ascontiguousarray(known.vectors[keep]),
            known.importance[keep], known.said_at[keep],
            None if known.signs is None else np.ascontiguousarray(known.signs[:, keep]),
            None if known.speaker is None else known.speaker[keep], known.speakers,
            postings=words,
        )  # fmt: skip
    added, count = changes.added, len(known.ids)
    total = count + len(added.ids)
    if not len(added.ids):
        vectors, room = known.vectors, known.room
    elif known.room is not None and known.room.used == count and len(known.room.buffer) >= total:
        room = known.room  # the newest set over this buffer: its spare rows are free
        room.buffer[count:total] = added.vectors
        room.used = total
        vectors = room.buffer[:total]
    else:
        buffer = np.empty((total + max(total // 4, 64), known.vectors.shape[1]), np.float32)
        buffer[:count] = known.vectors
        buffer[count:total] = added.vectors
        room, vectors = Room(buffer, total), buffer[:total]
    signs = None
    if known.signs is not None and added.signs is not None:
        signs = (
            np.concatenate([known.signs, added.signs], axis=1) if len(added.ids) else known.signs
        )
    speaker = None
    if known.speaker is not None and added.speaker is not None:
        speaker = np.concatenate([known.speaker, added.speaker])
    words = None
    if known.postings is not None and added.postings is not None:
        words = full_text.appended(known.postings, added.postings)
    return VectorSet(
        changes.version,
        np.concatenate([known.ids, added.ids]),
        vectors,
        np.concatenate([known.importance, added.importance]),
        np.concatenate([known.said_at, added.said_at]),
        signs,
        speaker,
        added.speakers or known.speakers,
        room,
        added.owned,
        words,
    )


def sign_bits(vectors: Vector) -> npt.NDArray[np.uint64]:
    """Each row's signs as bits, padded to whole 64-bit words."""
    if vectors.shape[1] % 64:
        pad = np.zeros((len(vectors), 64 - vectors.shape[1] % 64), dtype=np.float32)
        vectors = np.hstack([vectors, pad])
    packed = np.packbits(vectors > 0, axis=1)
    return np.ascontiguousarray(packed).view(np.uint64)
