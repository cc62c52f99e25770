"""Speech through any OpenAI-compatible server: ``POST {url}/audio/transcriptions`` (multipart:
``file``, ``model``, ``response_format=json``; whisper.cpp, vLLM, faster-whisper servers) and
``POST {url}/audio/speech`` (JSON: ``model``, ``input``, ``voice``, ``speed``,
``response_format=wav``). 429, 5xx and network failures are transient (EngineUnavailable)."""

from __future__ import annotations

import httpx

from personae.errors import EngineError, EngineUnavailable, MediaError
from personae.settings import Settings
from personae.types import Speech, Transcript
from personae.voice import codec

CONNECT_TIMEOUT_S = 10.0


def _client(key: object, timeout_s: float) -> httpx.AsyncClient:
    headers = {}
    secret = getattr(key, "get_secret_value", None)
    if secret is not None:
        headers["Authorization"] = f"Bearer {secret()}"
    return httpx.AsyncClient(
        headers=headers, timeout=httpx.Timeout(timeout_s, connect=CONNECT_TIMEOUT_S)
    )


def _failure(what: str, url: str, response: httpx.Response, setting: str) -> EngineError:
    try:
        body = response.json()
        message = str(body.get("error", {}).get("message") or body)[:300]
    except ValueError:
        message = response.text[:300] or "(empty body)"
    text = f"{what} at {url}: server answered {response.status_code}: {message}"
    if response.status_code == 429 or response.status_code >= 500:
        return EngineUnavailable(f"{text}; retry later")
    if response.status_code in (401, 403):
        return EngineError(f"{text}; check {setting}_API_KEY")
    return EngineError(f"{text}; check {setting}_URL and {setting}_MODEL")


async def _post(what: str, url: str, client: httpx.AsyncClient, **kwargs: object) -> httpx.Response:
    try:
        return await client.post(url, **kwargs)  # type: ignore[arg-type]
    except httpx.TimeoutException as exc:
        raise EngineUnavailable(f"{what} at {url} timed out; retry later") from exc
    except httpx.HTTPError as exc:
        raise EngineUnavailable(
            f"{what} at {url} is unreachable ({type(exc).__name__}); retry later"
        ) from exc


class OpenAISpeechToText:
    name = "openai"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._url = settings.stt_url.rstrip("/") + "/audio/transcriptions"

    async def transcribe(self, audio: bytes, mime_type: str | None) -> Transcript:
        # Decoded here first: a corrupt or over-long file is refused before it leaves the host,
        # and the duration is known whatever the server reports.
        speech = codec.decode(
            audio, max_seconds=self._settings.max_audio_seconds, mime_type=mime_type
        )
        wav = codec.encode(speech, "wav")
        async with _client(self._settings.stt_api_key, self._settings.voice_timeout_s) as client:
            response = await _post(
                "speech-to-text", self._url, client,
                files={"file": ("speech.wav", wav, "audio/wav")},
                data={"model": self._settings.stt_model, "response_format": "json"},
            )  # fmt: skip
        if response.status_code != 200:
            raise _failure("speech-to-text", self._url, response, "PERSONAE_STT")
        try:
            body = response.json()
            text = body["text"]
        except (ValueError, KeyError, TypeError) as exc:
            raise EngineError(
                f"speech-to-text at {self._url} answered without a `text` field"
            ) from exc
        language = body.get("language") if isinstance(body.get("language"), str) else None
        return Transcript(str(text).strip(), language, speech.duration_s)


class OpenAITextToSpeech:
    name = "openai"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._url = settings.tts_url.rstrip("/") + "/audio/speech"

    async def synthesize(
        self, text: str, *, voice: str | None = None, speed: float = 1.0
    ) -> Speech:
        body = {
            "model": self._settings.tts_model,
            "input": text,
            "voice": voice or "alloy",
            "speed": speed,
            "response_format": "wav",
        }
        async with _client(self._settings.tts_api_key, self._settings.voice_timeout_s) as client:
            response = await _post("text-to-speech", self._url, client, json=body)
        if response.status_code != 200:
            raise _failure("text-to-speech", self._url, response, "PERSONAE_TTS")
        try:
            return codec.decode(response.content, sample_rate=24000, max_seconds=3600)
        except MediaError as exc:
            raise EngineError(
                f"text-to-speech at {self._url} sent audio that does not decode: {exc}"
            ) from exc
