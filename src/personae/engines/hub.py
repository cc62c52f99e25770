"""`personae model pull`: one GGUF file from the Hugging Face hub into the models folder.

Through the ``huggingface_hub`` library, so its settings hold (``HF_ENDPOINT`` for a mirror or
a private hub, ``HF_TOKEN``, ``HF_HUB_DISABLE_PROGRESS_BARS``): a HEAD of the file's resolve URL
gives the commit, the size and the checksum (the ETag, for LFS files the sha256), then the file
streams into a ``.partial`` file with a progress bar. A download that breaks off is resumed with
a Range request, by the library within one pull and from the ``.partial`` file by the next
pull. Only a file whose size and checksum match is moved into place; one that does not match is
deleted, so a model on disk is always a whole one.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import re
import shutil
from pathlib import Path
from typing import IO, Any

from personae.engines.models import ModelSpec, ModelStore, PulledModel, parse_spec
from personae.errors import PersonaeError

_SHA256 = re.compile(r"[0-9a-f]{64}")
_GIT_SHA1 = re.compile(r"[0-9a-f]{40}")
_CHUNK = 1 << 20


class PullFailed(PersonaeError):
    """A pull that could not complete; the message says why and what to do."""


def pull(
    store: ModelStore, spec_text: str, *, revision: str = "main", endpoint: str | None = None
) -> PulledModel:
    """Download ``owner/repo/file.gguf`` (``endpoint`` None: the library's HF_ENDPOINT)."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    spec = parse_spec(spec_text)
    url = hf_hub_url(spec.repo, spec.file, revision=revision, endpoint=endpoint)
    try:
        meta = get_hf_file_metadata(url, retry_on_errors=True)
    except Exception as exc:
        raise _metadata_error(exc, spec, url) from None
    if not meta.etag or not meta.commit_hash or meta.size is None:
        raise PullFailed(
            f"{url} answered without the file's checksum, commit or size (ETag, X-Repo-Commit, "
            "Content-Length); is HF_ENDPOINT a Hugging Face hub?"
        )
    expected = meta.etag.lower()
    if not (_SHA256.fullmatch(expected) or _GIT_SHA1.fullmatch(expected)):
        raise PullFailed(
            f"{url} gave no usable checksum (ETag {meta.etag!r} is neither a sha256 nor a git "
            "object id), so the download could not be verified; nothing was downloaded"
        )
    done = store.find(spec.full_name)
    if done is not None and done.sha256 == expected:
        return done  # already here, unchanged upstream
    partial = store.partial(spec, expected)
    _download(meta.location, partial, meta.size, spec)
    actual = _checksum(partial, expected)
    if actual != expected:
        partial.unlink(missing_ok=True)
        raise PullFailed(
            f"checksum mismatch for {spec.full_name}: the hub says {expected}, the downloaded "
            f"file is {actual}; the download was deleted, run the pull again"
        )
    target = store.target(spec)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(partial, target)  # same file system: the model appears whole or not at all
    return store.record(spec, meta.commit_hash, meta.size, expected)


def _download(location: str, partial: Path, size: int, spec: ModelSpec) -> None:
    import httpx2  # huggingface_hub's HTTP client
    from huggingface_hub.errors import HfHubHTTPError
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]

    try:
        partial.parent.mkdir(parents=True, exist_ok=True)
        if partial.exists() and partial.stat().st_size > size:
            partial.unlink()  # longer than the file can be: start over
        have = partial.stat().st_size if partial.exists() else 0
        _check_space(partial.parent, size - have, spec)
        with partial.open("ab") as out:
            _lock(out, spec)
            http_get(
                location,
                out,
                resume_size=have,
                headers=build_hf_headers(),
                expected_size=size,
                displayed_filename=Path(spec.file).name,
            )
    except PersonaeError:
        raise
    except HfHubHTTPError as exc:  # also an OSError: the file's server refused it
        status = exc.response.status_code if exc.response is not None else "?"
        raise PullFailed(
            f"the hub refused the download of {spec.full_name} ({status}: {exc}); run the pull "
            "again later"
        ) from None
    except httpx2.HTTPError as exc:
        raise _broken(partial, size, spec, exc) from None
    except OSError as exc:
        if exc.errno is None:  # the library's size check: the server sent too little
            raise _broken(partial, size, spec, exc) from None
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)  # a disk that cannot take it: free the space
        raise PullFailed(
            f"could not write {spec.full_name} to {partial.parent} "
            f"({exc.strerror or exc}); free disk space there or set PERSONAE_MODELS_DIR to a "
            "folder with room for it, then pull again"
        ) from None


def _broken(partial: Path, size: int, spec: ModelSpec, exc: Exception) -> PullFailed:
    have = partial.stat().st_size if partial.exists() else 0
    return PullFailed(
        f"the download of {spec.full_name} broke off at {have} of {size} bytes "
        f"({type(exc).__name__}: {exc}); run the same pull again to resume it"
    )


def _check_space(folder: Path, needed: int, spec: ModelSpec) -> None:
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise PullFailed(
            f"{spec.full_name} needs {needed} more bytes but {folder} has {free} free; free "
            "disk space or set PERSONAE_MODELS_DIR to a folder with room, then pull again"
        )


def _lock(out: IO[bytes], spec: ModelSpec) -> None:
    try:
        fcntl.flock(out.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            raise PullFailed(
                f"another pull of {spec.full_name} is running; wait for it to finish"
            ) from None
        raise


def _checksum(path: Path, expected: str) -> str:
    """sha256 for LFS files; the git blob id (sha1 over a header) for small files."""
    digest: Any = hashlib.sha256() if len(expected) == 64 else hashlib.sha1(usedforsecurity=False)
    if len(expected) == 40:
        digest.update(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as source:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
    return str(digest.hexdigest())


def _metadata_error(exc: Exception, spec: ModelSpec, url: str) -> PullFailed:
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(exc, GatedRepoError):
        why = "is gated: accept its terms on the hub and set HF_TOKEN"
    elif isinstance(exc, RepositoryNotFoundError):
        why = f"repository {spec.repo!r} does not exist (or is private: set HF_TOKEN)"
    elif isinstance(exc, RevisionNotFoundError):
        why = "has no such revision"
    elif isinstance(exc, EntryNotFoundError):
        why = f"has no file {spec.file!r}: check the name in the repository's file list"
    elif isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else "?"
        why = f"could not be read: the hub answered {status}"
    else:
        return PullFailed(
            f"could not reach the hub at {url} ({type(exc).__name__}: {exc}); check the "
            "network, or HF_ENDPOINT when you use a mirror"
        )
    return PullFailed(f"{spec.full_name} {why} ({url})")
