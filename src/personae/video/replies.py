"""A reply as a video of the persona: its words spoken in its voice, its avatar animated to
that speech, the words burned in. Used by delivery for rows planned as video."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from pathlib import Path

from personae.core.avatars import AvatarPolicy
from personae.errors import MediaError
from personae.types import VideoPlan
from personae.video.render import FORMATS, RenderedVideo, render_video
from personae.voice.notes import VoiceNotes

log = logging.getLogger(__name__)


class VideoReplies:
    """Speaks with ``voice`` and renders; avatars only from where ``policy`` allows them."""

    def __init__(self, voice: VoiceNotes, policy: AvatarPolicy) -> None:
        self._voice = voice
        self._policy = policy

    async def film(self, text: str, plan: VideoPlan, fmt: str) -> RenderedVideo:
        """``text`` said by the persona in a ``fmt`` video (a key of render.FORMATS).

        Raises PersonaeError (MediaError, EngineError, ConfigError) when speech or the video
        cannot be made; the caller then sends the words as text.
        """
        voice = plan.voice
        speech = await self._voice.tts(voice).synthesize(text, voice=voice.voice, speed=voice.speed)
        avatar = await self.avatar(plan.avatar)
        return await render_video(avatar, speech, text, FORMATS[fmt], name=plan.name)

    async def avatar(self, avatar: str | None) -> bytes | None:
        """The avatar's image bytes: an allowed file or an inline data: image. None (a drawn
        initial instead) for no avatar, for URLs (delivery never fetches from the web) and for
        SVG drawings (no rasteriser here; the sample personas' SVGs are an initial on a disc
        anyway)."""
        if not avatar:
            return None
        if avatar.startswith("data:image/svg") or avatar.lower().endswith(".svg"):
            return None
        if avatar.startswith("data:"):
            _, _, encoded = avatar.partition(",")
            try:
                return base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise MediaError(
                    "the persona's avatar data: URI is not valid base64; re-encode the image"
                ) from exc
        if "://" in avatar:
            log.info("avatar %s is a URL: the video shows the persona's initial instead", avatar)
            return None
        problem = self._policy.problem(avatar)
        if problem is not None:
            raise MediaError(f"the persona's avatar cannot be used in a video: {problem}")
        return await asyncio.to_thread(Path(avatar).read_bytes)
