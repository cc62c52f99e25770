"""/v1/audio/speech and /v1/audio/transcriptions on a real server, through OpenAI's own SDK and
as an attacker would call them: no key, unknown or hidden personas, lying MIME types, corrupt,
truncated, over-long and huge uploads. Every refusal is a 400/401/404/413 in OpenAI's error
shape, and nothing is written under the data folder."""

from __future__ import annotations

import base64
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from personae.settings import Settings
from personae.voice import codec

from .live import ADMIN_TOKEN, API_KEY, LiveServer, start_server, write_personas

SPEECH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "speech" / "audio"
SHORT = SPEECH / "ccby_librispeech_251-118436-0001.wav"  # "i tell you it is not poison she cried"
LONG = SPEECH / "pd_jfk_inaugural_1961.wav"  # 11 s: over this server's 8 s limit
MAX_AUDIO_BYTES = 400_000


@pytest.fixture(scope="module")
def audio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("audio")
    personas = write_personas(home / "personas")
    (personas / "slow-talker.yaml").write_text(
        textwrap.dedent("""
        id: slow-talker
        name: Sol
        greeting: Hello... there.
        voice: {engine: espeak, voice: en-gb, speed: 0.5}
        """),
        encoding="utf-8",
    )
    settings = Settings(
        home=home, engine="scripted", api_key=API_KEY, admin_token=ADMIN_TOKEN,
        load_samples=False, personas_dir=personas, max_audio_seconds=8,
        media_max_audio_bytes=MAX_AUDIO_BYTES, max_speech_chars=200, tts_engine="espeak",
    )  # fmt: skip
    server = start_server(settings)
    yield server
    server.stop()


@pytest.fixture
def sdk(audio_server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{audio_server.url}/v1", api_key=API_KEY, max_retries=0)


@pytest.fixture
def http(audio_server: LiveServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=audio_server.url, headers=headers, timeout=120) as client:
        yield client


def clip(path: Path) -> bytes:
    if not path.is_file():
        pytest.skip(f"the speech set is not at {path.parent}")
    return path.read_bytes()


def assert_nothing_stored(server: LiveServer) -> None:
    assert not (server.settings.home / "media").exists()


# ---------------------------------------------------------------- speech


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [("mp3", "audio/mpeg"), ("opus", "audio/ogg"), ("wav", "audio/wav"), ("flac", "audio/flac"),
     ("aac", "audio/aac")],
)  # fmt: skip
def test_the_sdk_gets_a_persona_speaking_in_each_format(
    sdk: openai.OpenAI, fmt: str, mime: str
) -> None:
    spoken = sdk.audio.speech.create(
        model="echo-friend",
        voice="alloy",
        input="Good morning to you.",
        response_format=fmt,  # type: ignore[arg-type]
    )
    assert spoken.response.headers["content-type"].startswith(mime)
    assert 0.5 < codec.decode(spoken.content, max_seconds=30).duration_s < 5


def test_pcm_is_raw_24khz_and_the_persona_voice_speed_applies(http: httpx.Client) -> None:
    def seconds(model: str, speed: float = 1.0) -> float:
        body = {"model": model, "input": "one two three four five six", "voice": "alloy",
                "response_format": "pcm", "speed": speed}  # fmt: skip
        answer = http.post("/v1/audio/speech", json=body)
        assert answer.status_code == 200, answer.text
        return len(answer.content) / 2 / 24000

    normal, slow = seconds("echo-friend"), seconds("slow-talker")
    assert slow > normal * 1.5  # the persona file's speed 0.5
    assert seconds("echo-friend", speed=2.0) < normal * 0.75  # the request scales it


def test_speech_refusals_name_the_field(http: httpx.Client) -> None:
    def refused(body: dict[str, object]) -> dict[str, object]:
        answer = http.post("/v1/audio/speech", json={"voice": "alloy", **body})
        assert answer.status_code in (400, 404), answer.text
        return answer.json()["error"]

    assert (
        refused({"model": "echo-friend", "input": "hi", "response_format": "ogg"})["param"]
        == "response_format"
    )
    assert refused({"model": "echo-friend", "input": "x" * 201})["param"] == "input"
    assert "PERSONAE_MAX_SPEECH_CHARS" in str(
        refused({"model": "echo-friend", "input": "x" * 201})["message"]
    )
    assert refused({"model": "echo-friend", "input": ""})["type"] == "invalid_request_error"
    assert (
        refused({"model": "echo-friend", "input": "hi", "speed": 9})["type"]
        == "invalid_request_error"
    )
    for hidden in ("no-such-persona", "hidden-draft"):
        answer = http.post(
            "/v1/audio/speech", json={"model": hidden, "input": "hi", "voice": "alloy"}
        )
        assert answer.status_code == 404


def test_audio_needs_the_api_key(audio_server: LiveServer) -> None:
    body = {"model": "echo-friend", "input": "hi", "voice": "alloy"}
    assert httpx.post(f"{audio_server.url}/v1/audio/speech", json=body).status_code == 401
    files = {"file": ("a.wav", clip(SHORT), "audio/wav")}
    answer = httpx.post(
        f"{audio_server.url}/v1/audio/transcriptions", files=files, data={"model": "w"}
    )
    assert answer.status_code == 401


# ---------------------------------------------------------------- transcriptions


def test_the_sdk_transcribes_a_voice_note(sdk: openai.OpenAI, audio_server: LiveServer) -> None:
    note = codec.encode(codec.decode(clip(SHORT), max_seconds=30), "opus")
    heard = sdk.audio.transcriptions.create(model="whisper-1", file=("note.ogg", note, "audio/ogg"))
    assert "it is not poison" in heard.text.lower()
    verbose = sdk.audio.transcriptions.create(
        model="whisper-1", file=("note.ogg", note, "audio/ogg"), response_format="verbose_json"
    )
    assert verbose.language == "en" and abs(verbose.duration - 3.7) < 0.1
    assert_nothing_stored(audio_server)


def _transcribe(http: httpx.Client, data: bytes, mime: str, **form: str) -> httpx.Response:
    return http.post(
        "/v1/audio/transcriptions",
        files={"file": ("upload", data, mime)},
        data={"model": "whisper-1", **form},
    )


@pytest.mark.parametrize(
    ("name", "data", "mime"),
    [
        ("picture posing as audio", b"\x89PNG\r\n\x1a\n" + bytes(3000), "audio/ogg"),
        ("text posing as audio", b"hello, I am not audio at all " * 50, "audio/mpeg"),
        ("empty", b"", "audio/wav"),
    ],
)
def test_what_is_not_audio_is_refused_naming_the_file(
    http: httpx.Client, name: str, data: bytes, mime: str
) -> None:
    answer = _transcribe(http, data, mime)
    assert answer.status_code == 400, name
    error = answer.json()["error"]
    assert error["param"] == "file" and error["type"] == "invalid_request_error", error


def test_a_truncated_voice_note_is_refused_or_heard_never_a_crash(http: httpx.Client) -> None:
    note = codec.encode(codec.decode(clip(SHORT), max_seconds=30), "opus")
    for cut in (30, 200):
        answer = _transcribe(http, note[:cut], "audio/ogg")
        assert answer.status_code in (200, 400), answer.text
        if answer.status_code == 400:
            assert answer.json()["error"]["param"] == "file"


def test_audio_longer_than_the_limit_is_refused(
    http: httpx.Client, audio_server: LiveServer
) -> None:
    note = codec.encode(codec.decode(clip(LONG), max_seconds=30), "opus")
    answer = _transcribe(http, note, "audio/ogg")
    assert answer.status_code == 400
    assert "PERSONAE_MAX_AUDIO_SECONDS" in answer.json()["error"]["message"]
    assert_nothing_stored(audio_server)


def test_a_huge_upload_is_refused_before_it_is_read_whole(http: httpx.Client) -> None:
    answer = _transcribe(http, bytes(MAX_AUDIO_BYTES * 3), "audio/wav")
    assert answer.status_code == 413
    assert "PERSONAE_MEDIA_MAX_AUDIO_BYTES" in answer.json()["error"]["message"]


def test_form_mistakes_name_the_field(http: httpx.Client) -> None:
    assert (
        _transcribe(http, clip(SHORT), "audio/wav", response_format="srt").json()["error"]["param"]
        == "response_format"
    )
    answer = http.post("/v1/audio/transcriptions", data={"model": "whisper-1"})
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "file"
    answer = http.post("/v1/audio/transcriptions", json={"model": "whisper-1"})
    assert answer.status_code == 400 and "multipart" in answer.json()["error"]["message"]
    answer = http.post(
        "/v1/audio/transcriptions", files={"file": ("a.wav", clip(SHORT), "audio/wav")}
    )
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "model"


# ---------------------------------------------------------------- chat completions with audio


def _audio_part(data: bytes, fmt: str = "wav") -> dict[str, object]:
    encoded = base64.b64encode(data).decode()
    return {"type": "input_audio", "input_audio": {"data": encoded, "format": fmt}}


def test_input_audio_is_heard_and_audio_comes_back_in_openai_shape(sdk: openai.OpenAI) -> None:
    said = [{"role": "user", "content": [_audio_part(clip(SHORT))]}]
    answer = sdk.chat.completions.create(
        model="echo-friend", messages=said, modalities=["text", "audio"],  # type: ignore[arg-type]
        audio={"voice": "alloy", "format": "wav"},
    )  # fmt: skip
    message = answer.choices[0].message
    assert message.content is None and message.audio is not None
    # Whisper's punctuation varies across CPUs and builds ("you, it is"): compare the words.
    words = re.sub(r"[^\w\s]", "", message.audio.transcript.lower())
    assert words.startswith("echo i tell you it is not poison"), message.audio.transcript
    assert message.audio.id.startswith("audio_") and message.audio.expires_at > 0
    spoken = base64.b64decode(message.audio.data)
    assert spoken[:4] == b"RIFF" and codec.decode(spoken, max_seconds=60).duration_s > 1.0


def test_audio_in_chat_refusals_name_the_field(http: httpx.Client) -> None:
    def error(**body: object) -> dict[str, object]:
        answer = http.post("/v1/chat/completions", json={"model": "echo-friend", **body})
        assert answer.status_code == 400, answer.text
        return answer.json()["error"]

    part = "messages.0.content.0.input_audio.data"
    bad = {"type": "input_audio", "input_audio": {"data": "not base64!!", "format": "wav"}}
    assert error(messages=[{"role": "user", "content": [bad]}])["param"] == part
    png = _audio_part(b"\x89PNG\r\n\x1a\n" + bytes(3000), "mp3")
    assert error(messages=[{"role": "user", "content": [png]}])["param"] == part
    huge = _audio_part(bytes(MAX_AUDIO_BYTES + 10))
    assert "PERSONAE_MEDIA_MAX_AUDIO_BYTES" in str(
        error(messages=[{"role": "user", "content": [huge]}])["message"]
    )
    hello = [{"role": "user", "content": "hello"}]
    assert (
        error(
            messages=hello, modalities=["text", "audio"], audio={"voice": "alloy", "format": "ogg"}
        )["param"]
        == "audio.format"
    )
    assert (
        error(
            messages=hello,
            modalities=["text", "audio"],
            audio={"voice": "alloy", "format": "wav"},
            stream=True,
        )["param"]
        == "stream"
    )
    assert error(messages=hello, modalities=["audio"])["param"] == "modalities"
