"""Where a persona's avatar may come from: image files inside the allowed folders (the persona
files' folders and the data folder), https:// URLs on allowed hosts, or an inline data: image.

Anything else would let whoever writes a persona have the server serve any image file on its
disk, or send every visitor's browser to a URL of their choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
}
_DATA_PREFIXES = tuple(f"data:{kind};" for kind in set(IMAGE_TYPES.values()))


@dataclass(frozen=True, slots=True)
class AvatarPolicy:
    roots: tuple[Path, ...]  # resolved folders whose image files may be served
    hosts: frozenset[str]  # hosts an https:// avatar URL may name

    @classmethod
    def of(cls, roots: list[Path], hosts: str) -> AvatarPolicy:
        names = frozenset(h.strip().lower() for h in hosts.split(",") if h.strip())
        return cls(tuple(root.resolve() for root in roots), names)

    def problem(self, avatar: str) -> str | None:
        """Why ``avatar`` may not be used (a sentence that says how to fix it), or None."""
        if avatar.startswith(_DATA_PREFIXES):
            return None
        if "://" in avatar or avatar.startswith(("data:", "//")):
            return self._url_problem(avatar)
        path = Path(avatar)
        if not path.is_absolute():
            return f"give an absolute path to an image inside {self._where()}"
        if path.suffix.lower() not in IMAGE_TYPES:
            return f"use an image file ({', '.join(IMAGE_TYPES)}) inside {self._where()}"
        resolved = path.resolve()  # symlinks and `..` followed before the check
        if not any(resolved.is_relative_to(root) for root in self.roots):
            return (
                f"{resolved} is outside the allowed folders; put the image inside {self._where()}"
            )
        if not resolved.is_file():
            return f"no image file at {resolved}; put the image inside {self._where()}"
        return None

    def file(self, avatar: str | None) -> Path | None:
        """The image file to serve for ``avatar``, or None when it is not an allowed file."""
        if not avatar or "://" in avatar or avatar.startswith("data:"):
            return None
        if self.problem(avatar) is not None:
            return None
        return Path(avatar).resolve()

    def url(self, avatar: str | None) -> str | None:
        """``avatar`` when it is an allowed https:// URL, else None."""
        if not avatar or "://" not in avatar or self._url_problem(avatar) is not None:
            return None
        return avatar

    def _url_problem(self, avatar: str) -> str | None:
        parts = urlsplit(avatar)
        hosts = ", ".join(sorted(self.hosts)) or "none yet"
        if parts.scheme != "https" or not parts.hostname:
            return f"an avatar URL must start with https:// (hosts allowed: {hosts})"
        if parts.hostname.lower() not in self.hosts:
            return (
                f"avatar host {parts.hostname!r} is not allowed (allowed: {hosts}); add it to "
                "PERSONAE_AVATAR_HOSTS, or use an image file"
            )
        return None

    def _where(self) -> str:
        return " or ".join(str(root) for root in self.roots) or "an allowed folder"
