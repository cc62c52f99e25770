"""The folder media store: content sniffing, limits, bombs, and nothing half-written."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from personae.errors import MediaRefused, NotFound
from personae.media.sniff import MediaLimits, sniff
from personae.media.store import FolderMediaStore

from .images import jpeg, pixel_bomb, png

LIMITS = MediaLimits(
    image_bytes=200_000, image_pixels=1_000_000, audio_bytes=100_000, video_bytes=100_000,
    document_bytes=100_000,
)  # fmt: skip


def _store(tmp_path: Path) -> FolderMediaStore:
    return FolderMediaStore(tmp_path / "media", LIMITS)


async def test_an_image_is_stored_once_by_hash_as_what_it_really_is(tmp_path: Path) -> None:
    store = _store(tmp_path)
    data = jpeg()
    # Declared PNG, really a JPEG: stored with its real type, never the declared one.
    first = await store.put(data, "image", "image/png")
    again = await store.put(data, "image", "image/jpeg")
    assert first == again
    shape = (first.kind, first.mime_type, first.width, first.height)
    assert shape == ("image", "image/jpeg", 64, 48)
    assert first.sha256 == hashlib.sha256(data).hexdigest()
    assert await store.read(first.sha256) == data
    assert os.stat(store.location(first.sha256)).st_mode & 0o777 == 0o600
    assert sorted(os.listdir(tmp_path / "media")) == [first.sha256]
    assert await store.delete(first.sha256) is True
    assert await store.delete(first.sha256) is False
    with pytest.raises(NotFound):
        await store.read(first.sha256)


@pytest.mark.parametrize(
    ("data", "kind", "declared", "says"),
    [
        (png()[:-12], "image", "image/png", "corrupt or truncated"),
        (jpeg()[: len(jpeg()) // 2], "image", "image/jpeg", "corrupt or truncated"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "image", "image/png", "corrupt or truncated"),
        (pixel_bomb(10_000), "image", "image/png", "over the limit of 1000000"),
        (pixel_bomb(30_000), "image", "image/png", "too many pixels"),
        (b"<html><script>alert(1)</script></html>", "image", "image/png", "content is text/plain"),
        (b"OggS" + b"\x00" * 200, None, "image/jpeg", "declared as image/jpeg"),
        (png(), "audio", "audio/ogg", "expected an audio file"),
        (b"x" * 200_001, "image", "image/png", "over the limit of 200000"),
        (b"", "image", None, "empty"),
    ],
    ids=["png-cut", "jpeg-half", "png-garbage", "bomb", "huge-bomb", "html-as-png", "ogg-as-jpeg",
         "image-as-audio", "too-big", "empty"],
)  # fmt: skip
# A refused bomb is refused with a reason, not also warned about in the server's log.
@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
async def test_bad_files_are_refused_and_nothing_is_left(
    tmp_path: Path, data: bytes, kind: str | None, declared: str | None, says: str
) -> None:
    store = _store(tmp_path)
    with pytest.raises(MediaRefused, match=says):
        await store.put(data, kind, declared)  # type: ignore[arg-type]
    folder = tmp_path / "media"
    assert not folder.exists() or os.listdir(folder) == []


def test_a_failed_write_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path)

    def disk_full(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError, match="No space"):
        store.put_sync(png(), "image")
    assert os.listdir(tmp_path / "media") == []  # neither the file nor its partial copy


def test_stale_partial_files_are_swept(tmp_path: Path) -> None:
    folder = tmp_path / "media"
    folder.mkdir()
    stale = folder / ".abc.123.part"
    stale.write_bytes(b"half")
    os.utime(stale, (1, 1))
    fresh = folder / ".def.456.part"  # maybe another process writing right now
    fresh.write_bytes(b"half")
    _store(tmp_path).put_sync(png(), "image")
    assert not stale.exists() and fresh.exists()


def test_hashes_never_become_paths(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with pytest.raises(NotFound):
        store.location("../../etc/passwd")


def test_other_kinds_are_known_by_their_magic_numbers() -> None:
    assert sniff(b"OggS" + b"\x00" * 50, LIMITS, "audio", "audio/ogg").mime_type == "audio/ogg"
    mp4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 50
    assert sniff(mp4, LIMITS, "video", "video/mp4").mime_type == "video/mp4"
    assert sniff(b"%PDF-1.7\n" + b"x" * 50, LIMITS, "document").mime_type == "application/pdf"
    assert sniff(png(), LIMITS, "sticker").kind == "sticker"
