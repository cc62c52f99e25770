"""Avatars that are not plain image files, made into pictures a video can show.

SVG drawings are rasterised with CairoSVG (the ``svg`` extra; it needs the system's libcairo).
Its safe mode is kept: no XML entities, no external files or URLs (only ``data:`` images
inside the drawing), so an avatar cannot make the server read a file or fetch an address.
Without CairoSVG the video shows the persona's initial, and the log says why.

Avatars at http(s) URLs are fetched only when PERSONAE_MEDIA_FETCH_REMOTE allows remote
media, by the same fetcher as images sent to the API (public addresses only, each redirect
checked, the image size limit); otherwise, or when the fetch is refused, the initial is drawn.
"""

from __future__ import annotations

import logging

from personae.errors import MediaError, MediaRefused
from personae.media.remote import RemoteImages

log = logging.getLogger(__name__)
SVG_WIDTH = 512  # pixels: more than any channel's video side (480)
MAX_SVG_BYTES = 1024 * 1024


def looks_like_svg(data: bytes, declared: str | None = None) -> bool:
    head = data[:512].lstrip().lower()
    return (declared or "").startswith("image/svg") or head.startswith((b"<svg", b"<?xml"))


def rasterise_svg(data: bytes) -> bytes | None:
    """The drawing as a PNG on white, SVG_WIDTH wide; None when CairoSVG is not available.
    Raises MediaError for a drawing that cannot be drawn (or is over MAX_SVG_BYTES)."""
    if len(data) > MAX_SVG_BYTES:
        raise MediaError(
            f"the SVG avatar is {len(data)} bytes, over {MAX_SVG_BYTES}; simplify the drawing"
        )
    try:
        import cairosvg
    except (ImportError, OSError) as exc:  # not installed, or libcairo missing
        log.info("SVG avatar drawn as an initial: CairoSVG is not available (%s)", exc)
        return None
    try:
        png: bytes = cairosvg.svg2png(
            bytestring=data, output_width=SVG_WIDTH, background_color="white", unsafe=False
        )
    except Exception as exc:  # a parser of untrusted XML: any failure is a bad drawing
        raise MediaError(
            f"the SVG avatar could not be drawn ({type(exc).__name__}: {str(exc)[:120]}); "
            "fix the drawing or use a PNG"
        ) from exc
    return png


async def fetch_avatar(url: str, remote: RemoteImages | None) -> bytes | None:
    """The picture at an avatar URL, or None (the initial) when remote fetches are off or
    this one is refused (a private address, too large, not there)."""
    if remote is None:
        log.info("avatar %s is a URL and PERSONAE_MEDIA_FETCH_REMOTE is off: initial drawn", url)
        return None
    try:
        data, declared = await remote.fetch(url)
    except MediaRefused as refused:
        log.warning("avatar %s not fetched (%s): initial drawn", url[:200], refused)
        return None
    if looks_like_svg(data, declared):
        return rasterise_svg(data)
    return data
