"""OpenAI's audio endpoints over the personas' voices and the speech-to-text adapter:
``POST /v1/audio/speech`` (``model`` is a persona: its voice speaks ``input``) and
``POST /v1/audio/transcriptions`` (a multipart upload, as OpenAI's SDKs send it).

Uploads are bounded before they are read whole (the body limit for this path is
PERSONAE_MEDIA_MAX_AUDIO_BYTES plus room for the form's other fields), decoded from their bytes
whatever MIME type they claim, and refused past PERSONAE_MAX_AUDIO_SECONDS; nothing is stored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile

from personae.errors import MediaError, PersonaNotFound
from personae.server.abuse import admit
from personae.server.deps import RuntimeDep, V1CallerDep, require_api_key
from personae.server.errors import FieldError
from personae.server.identity import ADMIN_CLIENT

router = APIRouter(prefix="/v1/audio", tags=["openai"], dependencies=[Depends(require_api_key)])
# The multipart form's fields besides the file: a few short strings.
FORM_OVERHEAD_BYTES = 64 * 1024
SPEECH_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
TRANSCRIPT_FORMATS = ("json", "text", "verbose_json")


class SpeechRequest(BaseModel):
    """OpenAI's create-speech body. ``voice`` is accepted as SDKs send it, but the persona's
    own voice (its persona file's ``voice:``) speaks; ``speed`` scales the persona's speed."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, description="A persona id: that persona's voice speaks")
    input: str = Field(min_length=1, description="The text to speak")
    voice: str | dict[str, Any] | None = None
    instructions: str | None = None
    response_format: str = "mp3"
    speed: float = Field(1.0, ge=0.25, le=4.0)
    stream_format: Literal["audio"] | None = None


@router.post("/speech", response_model=None)
async def create_speech(
    body: SpeechRequest, request: Request, runtime: RuntimeDep, caller: V1CallerDep
) -> Response:
    if body.response_format not in SPEECH_FORMATS:
        raise FieldError(
            "response_format",
            f"response_format {body.response_format!r} is not supported; use one of "
            f"{', '.join(SPEECH_FORMATS)}",
        )
    limit = runtime.settings.max_speech_chars
    if len(body.input) > limit:
        raise FieldError(
            "input", f"input is {len(body.input)} characters, over the limit of {limit}; send "
            "shorter text or raise PERSONAE_MAX_SPEECH_CHARS",
        )  # fmt: skip
    record = await runtime.store.get_persona(body.model)
    if not record.persona.published and caller != ADMIN_CLIENT:
        raise PersonaNotFound(body.model)
    await admit(runtime, request, None)
    voice = record.persona.voice
    voice = voice.model_copy(update={"speed": max(0.25, min(4.0, voice.speed * body.speed))})
    spoken = await runtime.voice.speak(body.input, voice, body.response_format)
    return Response(spoken.data, media_type=spoken.mime_type)


async def _form(request: Request) -> Any:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise FieldError("file", "send the audio as multipart/form-data with a `file` field")
    try:
        return await request.form(max_files=1, max_fields=16)
    except Exception as exc:  # a malformed multipart body, as python-multipart reports it
        raise FieldError("file", f"the multipart body could not be read: {exc}") from exc


@router.post("/transcriptions", response_model=None)
async def create_transcription(
    request: Request, runtime: RuntimeDep, form: Annotated[Any, Depends(_form)]
) -> Response:
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise FieldError("file", "the form has no `file` upload; attach the audio as `file`")
    if not isinstance(form.get("model"), str) or not form.get("model"):
        raise FieldError("model", "the form has no `model`; send e.g. model=whisper-1")
    fmt = form.get("response_format") or "json"
    if fmt not in TRANSCRIPT_FORMATS:
        raise FieldError(
            "response_format",
            f"response_format {fmt!r} is not supported; use one of {', '.join(TRANSCRIPT_FORMATS)}",
        )
    data = await upload.read()
    if len(data) > runtime.settings.media_max_audio_bytes:
        raise FieldError(
            "file", f"the file is {len(data)} bytes, over the limit of "
            f"{runtime.settings.media_max_audio_bytes}; send a shorter recording",
        )  # fmt: skip
    if not data:
        raise MediaError("the uploaded file is empty; attach the audio as `file`", "file")
    await admit(runtime, request, None)
    try:
        heard = await runtime.voice.hear(data, upload.content_type)
    except MediaError as exc:
        raise MediaError(str(exc), "file") from exc
    if fmt == "text":
        return PlainTextResponse(heard.text + "\n")
    if fmt == "verbose_json":
        return JSONResponse(
            {"task": "transcribe", "language": heard.language, "duration": heard.duration_s,
             "text": heard.text, "segments": []}
        )  # fmt: skip
    return JSONResponse(
        {"text": heard.text, "usage": {"type": "duration", "seconds": round(heard.duration_s)}}
    )


def upload_limit(max_audio_bytes: int) -> int:
    """The body limit of the transcription route: the file plus the form around it."""
    return max_audio_bytes + FORM_OVERHEAD_BYTES
