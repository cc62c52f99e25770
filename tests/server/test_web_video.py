"""Video replies in the web chat: played in real Chromium, and the video route tested as an
attacker would (no cookie, another person's reply, a reply that is no video, odd ids)."""

from __future__ import annotations

import hashlib
import io
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager

import av
import httpx
import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser

from personae.settings import Settings

from .live import ADMIN_TOKEN, LiveServer, start_server
from .test_browser import ARTIFACTS, browser, watch_reply  # noqa: F401 (the browser fixture)


@pytest.fixture(scope="module")
def filmed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("web-video")
    folder = home / "personas"
    folder.mkdir()
    pixels = np.random.default_rng(2).integers(0, 255, (200, 160, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(folder / "ekko.png")
    persona = "id: ekko\nname: Ekko\ngreeting: Hi there!\navatar: ekko.png\n"
    (folder / "ekko.yaml").write_text(textwrap.dedent(persona + "video_replies: on_request\n"))
    (folder / "plain.yaml").write_text("id: plain\nname: Plain\ngreeting: Hello.\n")
    settings = Settings(
        home=home, engine="scripted", admin_token=ADMIN_TOKEN, personas_dir=folder,
        load_samples=False, memory=False, tts_engine="espeak",
    )  # fmt: skip
    server = start_server(settings)
    yield server
    server.stop()


@contextmanager
def person(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        assert client.get("/web/personas/ekko/conversation").status_code == 200  # the cookie
        yield client


def say(client: httpx.Client, text: str, slug: str = "ekko") -> dict[str, object]:
    assert client.post(f"/web/personas/{slug}/messages", json={"text": text}).status_code == 200
    messages: list[dict[str, object]] = client.get(f"/web/personas/{slug}/conversation").json()[
        "messages"
    ]
    return messages[-1]


def test_a_video_reply_plays_in_chromium(filmed: LiveServer, browser: Browser) -> None:  # noqa: F811
    context = browser.new_context(viewport={"width": 1000, "height": 720})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{filmed.url}/#/p/ekko")
    page.get_by_text("Hi there!").wait_for()
    page.get_by_label("Your message").fill("send me a video please")
    page.get_by_label("Your message").press("Enter")
    assert watch_reply(page)[-1] == "echo: send me a video please"
    video = page.locator("li.from-persona video.bubble-video")
    video.wait_for()
    page.wait_for_function(
        "() => { const v = document.querySelector('video.bubble-video');"
        " return v && v.readyState >= 1 && v.duration > 1 && v.videoWidth === 480; }",
        timeout=60_000,
    )
    page.get_by_label("Your message").fill("and how are you")
    page.get_by_label("Your message").press("Enter")
    assert watch_reply(page)[-1] == "echo: and how are you"
    page.wait_for_timeout(300)
    assert page.locator("video.bubble-video").count() == 1  # no request, no video
    page.reload()  # the conversation shows its video reply again
    page.locator("li.from-persona video.bubble-video").wait_for()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "webchat-video.png"))
    assert not errors, errors
    context.close()


def test_the_video_is_the_persons_own_and_only_for_video_replies(filmed: LiveServer) -> None:
    with person(filmed) as owner, person(filmed) as other:
        reply = say(owner, "record a video for me")
        assert reply["video"] is True
        url = f"/web/personas/ekko/messages/{reply['id']}/video"
        got = owner.get(url)
        assert got.status_code == 200 and got.headers["content-type"] == "video/mp4"
        assert got.headers["content-security-policy"] == "default-src 'none'; sandbox"
        stream = av.open(io.BytesIO(got.content)).streams.video[0]
        assert stream.codec_context.name == "h264" and stream.width == 480
        # Rendered once: kept in the media store as the reply's attachment (not a picture).
        digest = hashlib.sha256(got.content).hexdigest()
        kept = [p for p in (filmed.settings.home / "media").rglob("*") if digest in p.name]
        assert kept and owner.get(url).content == got.content
        assert say(owner, "hm")["images"] == [] and reply["images"] == []
        assert other.get(url).status_code == 404  # another person's reply
        assert httpx.get(f"{filmed.url}{url}", timeout=30).status_code == 404  # no cookie
        forged = {"personae_person": "x" * 32}
        assert httpx.get(f"{filmed.url}{url}", cookies=forged, timeout=30).status_code == 404
        plain = say(owner, "just talk")
        assert plain["video"] is False
        assert owner.get(f"/web/personas/ekko/messages/{plain['id']}/video").status_code == 404
        asked = plain["id"] - 1  # the person's own message is no video reply either
        assert owner.get(f"/web/personas/ekko/messages/{asked}/video").status_code == 404
        for odd in ("999999999", "-1", "0", "9" * 40):
            answer = owner.get(f"/web/personas/ekko/messages/{odd}/video")
            assert answer.status_code in (400, 404), (odd, answer.status_code)
        assert owner.get("/web/personas/ekko/messages/abc/video").status_code == 400
        assert owner.get(f"/web/personas/nobody/messages/{reply['id']}/video").status_code == 404
        # The same reply under another persona's address is not found either.
        assert owner.get(f"/web/personas/plain/messages/{reply['id']}/video").status_code == 404
