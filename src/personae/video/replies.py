"""A reply as a video of the persona: its words spoken in its voice, its avatar animated to
that speech, the words burned in. Used by delivery for rows planned as video."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import io
import logging
from pathlib import Path

from personae.core.avatars import AvatarPolicy
from personae.errors import MediaError
from personae.media.kept import KeptRenders, render_key
from personae.media.remote import RemoteImages
from personae.metrics import VIDEO_RENDERS
from personae.types import VideoPlan
from personae.video.avatar_images import fetch_avatar, rasterise_svg
from personae.video.render import FORMATS, MIME_TYPE, RenderedVideo, render_video
from personae.voice.notes import VoiceNotes

log = logging.getLogger(__name__)
RENDERER = "1"  # bump when the renderer's output changes: kept videos are then made again


class VideoReplies:
    """Speaks with ``voice`` and renders; avatar files only from where ``policy`` allows them,
    avatar URLs only through ``remote``. With ``kept``, a reply's video is rendered once per
    avatar, voice, words and format."""

    def __init__(
        self,
        voice: VoiceNotes,
        policy: AvatarPolicy,
        kept: KeptRenders | None = None,
        remote: RemoteImages | None = None,  # None: avatar URLs are never fetched
    ) -> None:
        self._voice = voice
        self._policy = policy
        self._kept = kept
        self._remote = remote

    async def film(
        self, text: str, plan: VideoPlan, fmt: str, reply_id: int | None = None
    ) -> RenderedVideo:
        """``text`` said by the persona in a ``fmt`` video (a key of render.FORMATS); the
        video kept for reply ``reply_id`` when one was made from the same inputs.

        Raises PersonaeError (MediaError, EngineError, ConfigError) when speech or the video
        cannot be made; the caller then sends the words as text.
        """
        voice = plan.voice
        avatar = await self.avatar(plan.avatar)
        key = render_key(
            avatar=hashlib.sha256(avatar).hexdigest() if avatar else None,
            voice=voice.model_dump(mode="json"), name=plan.name, text=text, format=fmt,
            renderer=RENDERER,
        )  # fmt: skip
        if reply_id is not None and self._kept is not None:
            data = await self._kept.find(reply_id, key)
            if data is not None:
                VIDEO_RENDERS.labels(fmt, "reused").inc()
                return await asyncio.to_thread(_kept_video, data)
        speech = await self._voice.tts(voice).synthesize(text, voice=voice.voice, speed=voice.speed)
        film = await render_video(avatar, speech, text, FORMATS[fmt], name=plan.name)
        VIDEO_RENDERS.labels(fmt, "rendered").inc()
        if reply_id is not None and self._kept is not None:
            await self._kept.keep(reply_id, key, film.data, "video", film.mime_type)
        return film

    async def avatar(self, avatar: str | None) -> bytes | None:
        """The avatar's image bytes: an allowed file or an inline data: image, an SVG drawing
        rasterised, a URL's image fetched under the remote media rules. None (a drawn initial
        instead) for no avatar, a URL that may not or could not be fetched, and SVG without
        CairoSVG (video/avatar_images.py)."""
        if not avatar:
            return None
        if avatar.startswith("data:"):
            header, _, encoded = avatar.partition(",")
            try:
                data = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise MediaError(
                    "the persona's avatar data: URI is not valid base64; re-encode the image"
                ) from exc
            return await asyncio.to_thread(rasterise_svg, data) if "svg" in header else data
        if "://" in avatar:
            return await fetch_avatar(avatar, self._remote)
        problem = self._policy.problem(avatar)
        if problem is not None:
            raise MediaError(f"the persona's avatar cannot be used in a video: {problem}")
        data = await asyncio.to_thread(Path(avatar).read_bytes)
        if avatar.lower().endswith(".svg"):
            return await asyncio.to_thread(rasterise_svg, data)
        return data


def _kept_video(data: bytes) -> RenderedVideo:
    """A kept render as sent: its length read back from the MP4."""
    import av

    with av.open(io.BytesIO(data), mode="r") as container:
        seconds = (container.duration or 0) / 1_000_000
    return RenderedVideo(data, MIME_TYPE, seconds, len(data), "kept")
