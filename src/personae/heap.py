"""Freed C-heap memory handed back to the system (glibc's malloc_trim).

glibc keeps freed blocks of a few MB inside the heap once a block of that size has been
freed (its mmap threshold rises to it), so what start-up or a large embedding pass freed
otherwise stays in the process's RSS until something happens to reuse it. Elsewhere (musl,
macOS) there is nothing to call and this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable


def _load_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
        return trim
    except (OSError, AttributeError):  # a C library without malloc_trim
        return None


_TRIM = _load_trim()


def release_freed() -> None:
    """Return the heap's free pages to the system (about half a millisecond)."""
    if _TRIM is not None:
        _TRIM(0)
