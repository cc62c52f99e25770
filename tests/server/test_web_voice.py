"""Voice notes in the web chat: recorded in real Chromium (its fake microphone plays a real
speech clip, so Whisper hears words), heard, answered by voice, and the upload and the voice
route tested as an attacker would (no cookie, another person, hostile files and sizes)."""

from __future__ import annotations

import io
import json
import math
import struct
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import av
import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from personae.settings import Settings

from .live import ADMIN_TOKEN, LiveServer, start_server
from .test_browser import ARGS, ARTIFACTS, CHROMIUM, watch_reply
from .test_web_photos import png

pytestmark = pytest.mark.browser

AUDIO_LIMIT = 400_000  # bytes: a few seconds of WAV, far more than a recorded Opus note
IMAGE_LIMIT = 60_000
MAX_SECONDS = 6.0
SPEECH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "speech"
SHORT = SPEECH / "audio" / "ccby_librispeech_251-118436-0001.wav"
SAID = "poison"  # in SHORT: "I tell you it is not poison she cried"


def speech_clip() -> bytes:
    if not SHORT.is_file():
        pytest.skip(f"the speech set is not at {SPEECH}")
    return SHORT.read_bytes()


@pytest.fixture(scope="module")
def voiced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("web-voice")
    folder = home / "personas"
    folder.mkdir()
    mirror = "id: ekko\nname: Ekko\ngreeting: Hi there!\nvoice_replies: mirror\n"
    (folder / "ekko.yaml").write_text(textwrap.dedent(mirror))
    (folder / "quiet.yaml").write_text("id: quiet\nname: Quiet\ngreeting: Hello.\n")
    settings = Settings(
        home=home, engine="scripted", admin_token=ADMIN_TOKEN, personas_dir=folder,
        load_samples=False, memory=False, tts_engine="espeak", voice_threads=2,
        max_audio_seconds=MAX_SECONDS, media_max_audio_bytes=AUDIO_LIMIT,
        media_max_image_bytes=IMAGE_LIMIT,
    )  # fmt: skip
    server = start_server(settings)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def microphone() -> Iterator[Browser]:
    """Chromium whose fake microphone plays the SHORT clip in a loop, permission granted."""
    clip = SHORT
    if not CHROMIUM.exists() or not clip.is_file():
        pytest.skip(f"needs {CHROMIUM} and the speech set at {SPEECH}")
    fake = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={clip}",
    ]
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS + fake)
        yield launched
        launched.close()


@contextmanager
def person(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=120) as client:
        assert client.get("/web/personas/ekko/conversation").status_code == 200  # the cookie
        yield client


def media_files(server: LiveServer) -> list[Path]:
    folder = server.settings.home / "media"
    return sorted(folder.iterdir()) if folder.exists() else []


def upload(client: httpx.Client, data: bytes, mime: str = "audio/wav") -> httpx.Response:
    return client.post("/web/uploads", content=data, headers={"content-type": mime})


def tone(seconds: float, rate: int = 8000) -> bytes:
    """A WAV of a plain tone: sound, no words."""
    samples = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
        for i in range(int(seconds * rate))
    )
    header = b"RIFF" + struct.pack("<I", 36 + len(samples)) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    return header + b"data" + struct.pack("<I", len(samples)) + samples


def chat(browser: Browser, server: LiveServer) -> tuple[Page, list[str]]:
    context = browser.new_context(viewport={"width": 1000, "height": 720})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server.url}/#/p/ekko")
    page.get_by_text("Hi there!").wait_for()
    return page, errors


def record(page: Page, seconds: float) -> None:
    page.get_by_role("button", name="Record a voice note").click()
    stop = page.get_by_role("button", name="Stop and send the voice note")
    stop.wait_for()
    assert stop.get_attribute("aria-pressed") == "true"
    assert page.locator("#recording").is_visible()
    page.wait_for_timeout(int(seconds * 1000))
    stop.click()


def test_a_voice_note_is_heard_and_answered_by_voice_in_chromium(
    voiced: LiveServer, microphone: Browser
) -> None:
    page, errors = chat(microphone, voiced)
    record(page, 4.2)
    mine = page.locator("li.from-user .bubble.voice-note")
    mine.filter(has_text=SAID).wait_for(timeout=90_000)  # the transcript is the person's words
    said = watch_reply(page, timeout_s=60)[-1]
    assert said.startswith("echo: ") and SAID in said.lower(), said
    page.wait_for_function(
        "() => { const a = document.querySelector('li.from-persona audio.bubble-audio');"
        " return a && a.readyState >= 1 && a.duration > 0.5 && isFinite(a.duration); }",
        timeout=60_000,
    )
    assert not page.locator("#recording").is_visible()
    page.locator("li.from-user audio.bubble-recording").wait_for()  # theirs, to play again
    page.reload()  # the voice note and the spoken reply are there again
    page.locator("li.from-persona audio.bubble-audio").wait_for()
    assert SAID in (page.locator("li.from-user .bubble.voice-note").text_content() or "").lower()
    page.wait_for_function(  # the person's own recording plays back: its metadata loaded
        "() => { const a = document.querySelector('li.from-user audio.bubble-recording');"
        " return a && a.readyState >= 1 && !a.error; }",
        timeout=30_000,
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "webchat-voice.png"))
    assert not errors, errors
    page.context.close()


def test_an_over_long_or_cancelled_recording_says_so_and_stores_nothing(
    voiced: LiveServer, microphone: Browser
) -> None:
    before = media_files(voiced)
    page, errors = chat(microphone, voiced)
    record(page, MAX_SECONDS + 2)
    status = page.locator("#chat-status")
    status.filter(has_text="longer than the limit").wait_for(timeout=30_000)
    assert "Voice note not sent" in (status.text_content() or "")
    assert page.locator("li.from-user").count() == 0
    page.get_by_role("button", name="Record a voice note").click()
    page.get_by_role("button", name="Cancel the voice note").click()
    page.get_by_role("button", name="Record a voice note").wait_for()
    page.wait_for_timeout(500)
    assert page.locator("li.from-user").count() == 0
    assert media_files(voiced) == before
    assert not errors, errors
    page.context.close()


def test_the_transcript_is_the_message_and_the_trace_keeps_both(voiced: LiveServer) -> None:
    with person(voiced) as client:
        ref = upload(client, speech_clip()).json()["ref"]
        sent = client.post("/web/personas/ekko/messages", json={"text": "", "voice": ref})
        assert sent.status_code == 200, sent.text
        events = [block for block in sent.text.split("\n\n") if block]
        assert events[0].startswith("event: heard") and SAID in events[0].lower()
        done = json.loads(next(e for e in events if e.startswith("event: done")).split("data: ")[1])
        heard = done["message"]["content"]
        assert SAID in heard.lower() and done["reply"]["content"] == f"echo: {heard}"
        reasons = json.dumps(done["trace"])
        sha = ref.split(".")[0]
        assert f"media:{sha}" in reasons and "heard:" in reasons and SAID in reasons.lower()
        asked, reply = client.get("/web/personas/ekko/conversation").json()["messages"][-2:]
        assert (asked["content"], asked["voice_note"], reply["voice"]) == (heard, True, True)
        url = f"/web/personas/ekko/messages/{reply['id']}/voice"
        spoken = client.get(url)
        assert spoken.status_code == 200 and spoken.headers["content-type"] == "audio/mp4"
        with av.open(io.BytesIO(spoken.content)) as container:
            stream = container.streams.audio[0]
            assert stream.codec_context.name == "aac"
            assert container.duration is not None and container.duration > 500_000  # µs
        kept = media_files(voiced)
        assert client.get(url).content == spoken.content  # kept: spoken once
        assert media_files(voiced) == kept
        # A typed message to a mirroring persona is answered in text only.
        assert client.post("/web/personas/ekko/messages", json={"text": "hi"}).status_code == 200
        typed = client.get("/web/personas/ekko/conversation").json()["messages"][-1]
        assert typed["voice"] is False
        assert client.get(f"/web/personas/ekko/messages/{typed['id']}/voice").status_code == 404


def test_a_photo_with_a_voice_note_is_described_by_the_words(voiced: LiveServer) -> None:
    with person(voiced) as client:
        photo = upload(client, png(), "image/png").json()["ref"]
        note = upload(client, speech_clip()).json()["ref"]
        body = {"text": "", "images": [photo], "voice": note}
        sent = client.post("/web/personas/ekko/messages", json=body)
        assert sent.status_code == 200, sent.text
        asked = client.get("/web/personas/ekko/conversation").json()["messages"][-2]
        assert SAID in asked["content"].lower() and "picture" not in asked["content"].lower()
        assert len(asked["images"]) == 1 and asked["voice_note"] is True
        for ref in (photo, note):
            assert f"media:{ref.split('.')[0]}" in sent.text  # the trace names both


def test_a_voice_note_and_its_reply_are_the_persons_own(voiced: LiveServer) -> None:
    with person(voiced) as alice, person(voiced) as mallory:
        ref = upload(alice, speech_clip()).json()["ref"]
        stolen = mallory.post("/web/personas/ekko/messages", json={"text": "", "voice": ref})
        assert stolen.status_code == 404
        forged = f"{ref.split('.')[0]}.{'0' * 32}"
        sent = mallory.post("/web/personas/ekko/messages", json={"text": "", "voice": forged})
        assert sent.status_code == 404
        assert alice.post("/web/personas/ekko/messages", json={"text": "", "voice": ref}).is_success
        reply = alice.get("/web/personas/ekko/conversation").json()["messages"][-1]
        url = f"/web/personas/ekko/messages/{reply['id']}/voice"
        assert alice.get(url).status_code == 200
        assert mallory.get(url).status_code == 404
        assert httpx.get(f"{voiced.url}{url}", timeout=30).status_code == 404  # no cookie
        other = f"/web/personas/quiet/messages/{reply['id']}/voice"
        assert alice.get(other).status_code == 404
        for odd in ("999999999", "-1", "0"):
            assert alice.get(f"/web/personas/ekko/messages/{odd}/voice").status_code == 404
        asked = alice.get("/web/personas/ekko/conversation").json()["messages"][-2]
        own = f"/web/personas/ekko/messages/{asked['id']}/recording"
        played = alice.get(own)
        assert played.status_code == 200 and played.content == speech_clip()  # as recorded
        assert played.headers["content-type"].startswith("audio/")
        assert played.headers["x-content-type-options"] == "nosniff"
        assert mallory.post("/web/personas/ekko/messages", json={"text": "hi"}).is_success
        assert mallory.get(own).status_code == 404  # a person of their own, still not theirs
        assert httpx.get(f"{voiced.url}{own}", timeout=30).status_code == 404  # no cookie
        assert alice.get(own.replace("/ekko/", "/quiet/")).status_code == 404
        hostile = (str(reply["id"]), "999999999", "-1", "0", "9" * 30)  # the reply has no note
        for odd in hostile:
            assert alice.get(f"/web/personas/ekko/messages/{odd}/recording").status_code == 404
        assert alice.get("/web/personas/ekko/messages/x/recording").status_code in (400, 422)
        photo = upload(alice, png(), "image/png").json()["ref"]
        wrong = alice.post("/web/personas/ekko/messages", json={"text": "", "voice": photo})
        assert wrong.status_code == 400 and "no voice note" in wrong.json()["error"]["message"]
        long_ref = alice.post("/web/personas/ekko/messages", json={"text": "", "voice": "a" * 500})
        assert long_ref.status_code in (400, 422)
    no_cookie = httpx.post(
        f"{voiced.url}/web/uploads", content=tone(1), headers={"content-type": "audio/wav"}
    )
    assert no_cookie.status_code == 400 and "open the web chat first" in no_cookie.text


@pytest.mark.parametrize(
    ("data", "mime", "status", "says"),
    [
        (png(), "audio/webm", 400, "content is image/png"),
        (b"%PDF-1.4 not a voice note", "audio/ogg", 400, "content is application/pdf"),
        (b"", "audio/webm", 400, "empty"),
        (b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 8, "audio/webm", 400, "could not be decoded"),
        (tone(MAX_SECONDS + 1), "audio/wav", 400, "longer than the limit"),
        (tone(30), "audio/wav", 413, "PERSONAE_MEDIA_MAX_AUDIO_BYTES"),
        (png(300, 300) + bytes(IMAGE_LIMIT), "audio/wav", 400, "content is image/png"),
    ],
    ids=["png-as-webm", "pdf-as-ogg", "empty", "corrupt-webm", "too-long", "too-large",
         "big-image-as-audio"],
)  # fmt: skip
def test_hostile_voice_notes_are_refused(
    voiced: LiveServer, data: bytes, mime: str, status: int, says: str
) -> None:
    before = media_files(voiced)
    with person(voiced) as client:
        response = upload(client, data, mime)
    assert response.status_code == status, response.text
    message = response.json()["error"]["message"]
    assert says in message, message
    if status == 400:
        assert message.startswith("the voice note was not accepted")
    assert media_files(voiced) == before


def test_the_photo_limit_still_holds_for_photos(voiced: LiveServer) -> None:
    with person(voiced) as client:
        response = upload(client, png(300, 300) + bytes(IMAGE_LIMIT), "image/png")
    assert response.status_code == 413
    assert "PERSONAE_MEDIA_MAX_IMAGE_BYTES" in response.json()["error"]["message"]
