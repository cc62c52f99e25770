"""Audio in /v1/chat/completions, in OpenAI's shapes: ``input_audio`` content parts
(``{"type": "input_audio", "input_audio": {"data": BASE64, "format": "wav"}}``) are heard by the
speech-to-text adapter and become text parts; ``modalities: ["text", "audio"]`` with
``audio: {"voice", "format"}`` adds ``message.audio`` (base64 ``data``, ``transcript``, ``id``,
``expires_at``) spoken in the persona's voice. The persona's own voice speaks; ``voice`` is
accepted as SDKs send it. Audio output is not streamed (a 400 says so)."""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from dataclasses import dataclass
from typing import Any

from personae.errors import MediaError
from personae.server.errors import FieldError
from personae.server.openai_schema import ChatCompletionRequest
from personae.settings import Settings
from personae.types import VoiceSettings
from personae.voice.notes import VoiceNotes

# OpenAI's audio output formats, and the codec format each is encoded as here.
OUTPUT_FORMATS = {
    "wav": "wav",
    "mp3": "mp3",
    "flac": "flac",
    "opus": "opus",
    "aac": "aac",
    "pcm16": "pcm",
}
EXPIRES_S = 3600  # nothing is kept: the id only names this answer's audio


@dataclass(frozen=True, slots=True)
class AudioAsk:
    """What the request asks for as audio output: the codec format to encode."""

    fmt: str


def audio_output(body: ChatCompletionRequest) -> tuple[ChatCompletionRequest, AudioAsk | None]:
    """The request without ``modalities``/``audio`` (handled here), and the audio asked for."""
    extra = dict(body.model_extra or {})
    modalities = extra.pop("modalities", None)
    audio = extra.pop("audio", None)
    if modalities is None and audio is None:
        return body, None
    if (
        not isinstance(modalities, list)
        or not set(modalities) <= {"text", "audio"}
        or "text" not in modalities
    ):
        raise FieldError("modalities", 'modalities must be ["text"] or ["text", "audio"]')
    cleaned = ChatCompletionRequest.model_validate(
        {**body.model_dump(exclude_unset=True, exclude={"modalities", "audio"}), **extra}
    )
    if "audio" not in modalities:
        return cleaned, None
    if not isinstance(audio, dict) or audio.get("format") not in OUTPUT_FORMATS:
        raise FieldError(
            "audio.format",
            f'audio output needs audio: {{"voice": ..., "format": ...}} with format one of '
            f"{', '.join(OUTPUT_FORMATS)}",
        )
    if body.stream:
        raise FieldError("stream", "audio output is not streamed here; send stream=false")
    return cleaned, AudioAsk(OUTPUT_FORMATS[audio["format"]])


async def hear_parts(
    body: ChatCompletionRequest, voice: VoiceNotes, settings: Settings
) -> ChatCompletionRequest:
    """Every ``input_audio`` part replaced by a text part holding what was heard in it."""
    if not any(
        isinstance(m.content, list) and any(p.type == "input_audio" for p in m.content)
        for m in body.messages
    ):
        return body
    data = body.model_dump(exclude_unset=True)
    for index, message in enumerate(data["messages"]):
        if not isinstance(message.get("content"), list):
            continue
        for part_index, part in enumerate(message["content"]):
            if part.get("type") != "input_audio":
                continue
            where = f"messages.{index}.content.{part_index}.input_audio"
            heard = await _hear(part.get("input_audio"), where, voice, settings)
            message["content"][part_index] = {"type": "text", "text": heard}
    return ChatCompletionRequest.model_validate(data)


async def _hear(spec: object, where: str, voice: VoiceNotes, settings: Settings) -> str:
    if not isinstance(spec, dict) or not isinstance(spec.get("data"), str):
        raise FieldError(
            f"{where}.data", 'an input_audio part needs {"data": BASE64, "format": "wav"}'
        )
    encoded = spec["data"]
    if len(encoded) * 3 // 4 > settings.media_max_audio_bytes:  # refused before it is decoded
        raise FieldError(
            f"{where}.data",
            f"the audio is over the limit of {settings.media_max_audio_bytes} bytes; "
            "send a shorter recording (PERSONAE_MEDIA_MAX_AUDIO_BYTES)",
        )  # fmt: skip
    try:
        audio = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FieldError(f"{where}.data", f"the audio is not valid base64: {exc}") from exc
    fmt = spec.get("format")
    try:
        heard = await voice.hear(audio, f"audio/{fmt}" if isinstance(fmt, str) else None)
    except MediaError as exc:
        raise FieldError(f"{where}.data", str(exc)) from exc
    return heard.text or "[The person sent audio with no words in it]"


async def spoken_message(
    text: str, persona_voice: VoiceSettings, ask: AudioAsk, voice: VoiceNotes
) -> dict[str, Any]:
    """OpenAI's ``message.audio`` for ``text`` in the persona's voice."""
    spoken = await voice.speak(text, persona_voice, ask.fmt)
    return {
        "id": f"audio_{secrets.token_hex(12)}",
        "data": base64.b64encode(spoken.data).decode(),
        "expires_at": int(time.time()) + EXPIRES_S,
        "transcript": text,
    }
