"""Folders and files only their owner may read: the data folder holds conversations and tokens."""

from __future__ import annotations

import os
from pathlib import Path


def private_dir(path: Path) -> None:
    """Create ``path`` (mode 0700) if missing; parents get the usual mode, an existing folder
    is left as its owner set it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)


def private_file(path: Path) -> None:
    """Create an empty ``path`` with mode 0600 if missing, before anything else can create it
    with a wider mode (SQLite gives its -wal and -shm files the database file's mode)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)
