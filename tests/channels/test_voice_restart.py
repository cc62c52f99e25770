"""A voice note accepted just before a crash is still heard: `personae up` is killed while the
audio download hangs (the message stored and its job recorded, nothing heard yet); the next
start resumes the job, its worker fetches the audio again by its WhatsApp media id, hears it,
and the persona answers the transcript, once. A clean stop mid-download leaves it the same way."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from personae.settings import Settings
from server.live import start_server
from up_process import free_port, start_up

from .platform import GRAPH_VERSION, PlatformServer
from .test_voice_notes import voice_note, wa_voice
from .test_webhook_server import WA, _channels_file

# The persona the channels file binds, answering in text: the test is about what it heard.
ECHO = "id: echo-friend\nname: Ekko\ngreeting: Hi!\nvoice_replies: never\n"


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """A crash: SIGKILL to the server and its worker process, no shutdown code runs."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def _rows(home: Path, sql: str) -> list[Any]:
    with sqlite3.connect(home / "personae.db") as db:
        return db.execute(sql).fetchall()


async def _until(home: Path, sql: str, timeout_s: float) -> list[Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = _rows(home, sql)
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{sql}: nothing within {timeout_s} s")


async def _download_started(platform: PlatformServer, path: str) -> None:
    deadline = time.monotonic() + 30
    while not [r for r in platform.seen if r.path == path]:
        assert time.monotonic() < deadline, "the audio download never started"
        await asyncio.sleep(0.05)


async def test_a_voice_note_cut_off_by_a_crash_before_hearing_is_heard_after_restart(
    platform: PlatformServer, tmp_path: Path
) -> None:
    home, personas = tmp_path / "home", tmp_path / "personas"
    personas.mkdir()
    (personas / "echo-friend.yaml").write_text(ECHO)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERSONAE_")}
    env.update(
        PERSONAE_HOME=str(home), PERSONAE_ENGINE="scripted", PERSONAE_THREADS="2",
        PERSONAE_LOAD_SAMPLES="false", PERSONAE_PERSONAS_DIR=str(personas),
        PERSONAE_CHANNELS=str(_channels_file(tmp_path)), PERSONAE_RATE_PERSON_PER_MIN="0",
        PERSONAE_GRAPH_API_BASE=platform.url, PERSONAE_GRAPH_API_VERSION=GRAPH_VERSION,
        PERSONAE_MEDIA_WAIT_S="2",  # the old code answered the placeholder after this wait
    )  # fmt: skip
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    note = voice_note()
    platform.media["VOICE9"] = ("audio/ogg", note)
    hold = platform.media_hold = asyncio.Event()  # the download hangs: the crash comes first
    first = await asyncio.to_thread(start_up, env, port, True)
    try:
        body = wa_voice("VOICE9", "wamid.CRASH1")
        async with httpx.AsyncClient(base_url=base, timeout=30) as web:
            answer = await web.post(WA.webhook_path, content=body, headers=WA.headers(body))
        assert answer.status_code == 200  # stored: WhatsApp will not send it again
        await _download_started(platform, "/wa-media/VOICE9")
    finally:
        _kill(first)
    assert _rows(home, "SELECT count(*) FROM attachments") == [(0,)]  # nothing fetched
    assert not _rows(home, "SELECT id FROM outbox")  # and nothing answered
    platform.media_hold = None
    hold.set()  # the first process's download answers a dead socket
    second = await asyncio.to_thread(start_up, env, port, True)
    try:
        sent = "SELECT payload FROM outbox WHERE channel = 'whatsapp'"
        [(payload,)] = await _until(home, sent, timeout_s=120)
        text = json.loads(payload)["text"].lower()
        # Whisper's punctuation varies between builds ("i tell you, it is..."); the words not.
        assert "echo: i tell you it is not poison" in _words(text), text
        [(transcript, content)] = _rows(
            home,
            "SELECT a.transcript, m.content FROM attachments a "
            "JOIN messages m ON m.id = a.message_id",
        )
        assert "not poison" in transcript.lower() and content == transcript
        await asyncio.sleep(1.0)  # nothing more comes: answered once
        assert len(_rows(home, sent)) == 1
        assert _rows(home, "SELECT role FROM messages ORDER BY id") == [("user",), ("assistant",)]
    finally:
        _kill(second)


async def test_a_shutdown_before_hearing_leaves_the_voice_note_for_the_next_start(
    platform: PlatformServer, tmp_path: Path
) -> None:
    """A clean stop cancels the hearing after accept: the job must wait for the next start,
    not answer the placeholder on the way out."""
    home, personas = tmp_path / "home", tmp_path / "personas"
    personas.mkdir()
    (personas / "echo-friend.yaml").write_text(ECHO)
    settings = Settings(
        home=home, engine="scripted", load_samples=False, personas_dir=personas,
        channels=_channels_file(tmp_path), rate_person_per_min=0, media_wait_s=2,
        graph_api_base=platform.url, graph_api_version=GRAPH_VERSION,
    )  # fmt: skip
    platform.media["VOICE8"] = ("audio/ogg", voice_note())
    hold = platform.media_hold = asyncio.Event()
    first = await asyncio.to_thread(start_server, settings)
    try:
        body = wa_voice("VOICE8", "wamid.STOP1")
        async with httpx.AsyncClient(base_url=first.url, timeout=30) as web:
            answer = await web.post(WA.webhook_path, content=body, headers=WA.headers(body))
        assert answer.status_code == 200
        await _download_started(platform, "/wa-media/VOICE8")
    finally:
        await asyncio.to_thread(first.stop)  # waits for the download a while, then cancels it
    platform.media_hold = None
    hold.set()
    assert not _rows(home, "SELECT id FROM outbox")  # nothing answered on the way out
    second = await asyncio.to_thread(start_server, settings)
    try:
        sent = "SELECT payload FROM outbox WHERE channel = 'whatsapp'"
        [(payload,)] = await _until(home, sent, timeout_s=120)
        text = json.loads(payload)["text"].lower()
        # Whisper's punctuation varies between builds ("i tell you, it is..."); the words not.
        assert "echo: i tell you it is not poison" in _words(text), text
    finally:
        await asyncio.to_thread(second.stop)


async def test_a_text_sent_while_a_voice_note_downloads_is_answered_after_it(
    platform: PlatformServer, tmp_path: Path
) -> None:
    """One conversation, one order: the voice note is answered first even when its download is
    slow and the person's next message, a text, arrives meanwhile."""
    home, personas = tmp_path / "home", tmp_path / "personas"
    personas.mkdir()
    (personas / "echo-friend.yaml").write_text(ECHO)
    settings = Settings(
        home=home, engine="scripted", load_samples=False, personas_dir=personas,
        channels=_channels_file(tmp_path), rate_person_per_min=0,
        graph_api_base=platform.url, graph_api_version=GRAPH_VERSION,
    )  # fmt: skip
    platform.media["VOICE7"] = ("audio/ogg", voice_note())
    hold = platform.media_hold = asyncio.Event()
    server = await asyncio.to_thread(start_server, settings)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as web:
            voice = wa_voice("VOICE7", "wamid.ORDER1")
            answer = await web.post(WA.webhook_path, content=voice, headers=WA.headers(voice))
            assert answer.status_code == 200
            await _download_started(platform, "/wa-media/VOICE7")
            text = WA.text_update("did you get my voice note?", "wamid.ORDER2")
            answer = await web.post(WA.webhook_path, content=text, headers=WA.headers(text))
            assert answer.status_code == 200
        await asyncio.sleep(1.5)  # the text's turn would have run by now if it did not wait
        assert not _rows(home, "SELECT id FROM outbox")
        hold.set()
        sent = "SELECT payload FROM outbox WHERE channel = 'whatsapp' ORDER BY id"
        await _until(home, sent + " LIMIT 1 OFFSET 1", timeout_s=120)
        first, second = (json.loads(p)["text"].lower() for (p,) in _rows(home, sent))
        assert "not poison" in first, first
        assert "did you get my voice note" in second, second
    finally:
        platform.media_hold = None
        await asyncio.to_thread(server.stop)


def _words(text: str) -> str:
    """The text without punctuation other than the echo's colon."""
    return re.sub(r"[^\w\s:]", "", text)
