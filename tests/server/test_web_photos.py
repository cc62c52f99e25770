"""Photos in the web chat: attached in real Chromium, shown back, and the upload endpoint
tested as an attacker would (no cookie, another person's photo, forged refs, hostile sizes)."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser

from personae.settings import Settings

from .live import ADMIN_TOKEN, LiveServer, start_server
from .test_browser import ARTIFACTS, REPLY, browser, watch_reply  # noqa: F401 (the browser fixture)

LIMIT = 60_000


def png(width: int = 48, height: int = 32, colour: tuple[int, int, int] = (30, 90, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("photos")
    folder = home / "personas"
    folder.mkdir()
    (folder / "ekko.yaml").write_text(
        textwrap.dedent("id: ekko\nname: Ekko\ngreeting: Hi there!\n")
    )
    (folder / "dog.png").write_bytes(png(30, 30, (220, 170, 40)))
    rex = "id: rex\nname: Rex\ngreeting: Woof!\ngallery:\n"
    rex += "  - {file: dog.png, description: my golden retriever puppy in the park}\n"
    (folder / "rex.yaml").write_text(rex)
    settings = Settings(
        home=home, engine="scripted", admin_token=ADMIN_TOKEN, personas_dir=folder,
        load_samples=False, memory=False, media_max_image_bytes=LIMIT,
    )  # fmt: skip
    server = start_server(settings)
    yield server
    server.stop()


@contextmanager
def person(server: LiveServer) -> Iterator[httpx.Client]:
    """A browser-like client with its own person cookie."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get("/web/personas/ekko/conversation").status_code == 200  # the cookie
        yield client


def upload(client: httpx.Client, data: bytes, mime: str = "image/png") -> httpx.Response:
    return client.post("/web/uploads", content=data, headers={"content-type": mime})


def test_attach_a_photo_in_chromium(photos: LiveServer, browser: Browser, tmp_path: Path) -> None:  # noqa: F811
    picture = tmp_path / "plant.png"
    picture.write_bytes(png())
    context = browser.new_context(viewport={"width": 1000, "height": 720})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{photos.url}/#/p/ekko")
    page.get_by_text("Hi there!").wait_for()
    page.locator("#photo-input").set_input_files(str(picture))
    page.locator("#pending-photos img").wait_for()
    page.get_by_label("Your message").fill("what is this? [[engine-media]]")
    page.get_by_label("Your message").press("Enter")
    said = watch_reply(page)[-1]
    assert said.startswith("media: 0 images () note: [The person's message comes with a picture.")
    shown = page.locator("li.from-user .bubble-photo")
    shown.wait_for()
    assert page.locator("#pending-photos img").count() == 0
    assert shown.evaluate("img => img.naturalWidth") == 48  # served back, really an image
    page.reload()
    page.locator(REPLY, has_text="media: 0 images").wait_for()
    page.locator("li.from-user .bubble-photo").wait_for()
    assert page.locator("li.from-user .bubble-photo").evaluate("img => img.naturalWidth") == 48
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "webchat-photo.png"))
    assert not errors, errors
    context.close()


def test_a_photo_alone_is_a_message(photos: LiveServer) -> None:
    with person(photos) as client:
        ref = upload(client, png(colour=(1, 1, 1))).json()["ref"]
        sent = client.post("/web/personas/ekko/messages", json={"text": "", "images": [ref]})
        assert sent.status_code == 200
        assert "echo: [The person sent a picture]" in sent.text
        # The trace names the picture and what became of it.
        sha = ref.split(".")[0]
        assert f"media:{sha}" in sent.text and "not shown: the model is text-only" in sent.text


def test_a_persona_sends_a_gallery_picture_and_the_chat_shows_it(photos: LiveServer) -> None:
    with person(photos) as client:
        asked = client.post("/web/personas/rex/messages", json={"text": "[[picture: my dog]]"})
        assert asked.status_code == 200, asked.text
        history = client.get("/web/personas/rex/conversation").json()["messages"]
        reply = history[-1]
        assert (reply["role"], reply["content"]) == ("assistant", "echo:")  # marker taken out
        [ref] = reply["images"]
        assert client.get(f"/web/media/{ref}").content == png(30, 30, (220, 170, 40))


def test_uploads_need_the_chat_cookie(photos: LiveServer) -> None:
    response = httpx.post(f"{photos.url}/web/uploads", content=png(), timeout=30)
    assert response.status_code == 400
    assert "open the web chat first" in response.json()["error"]["message"]


def test_another_persons_photo_cannot_be_seen_or_sent(photos: LiveServer) -> None:
    with person(photos) as alice, person(photos) as mallory:
        ref = upload(alice, png(colour=(5, 6, 7))).json()["ref"]
        assert alice.get(f"/web/media/{ref}").content == png(colour=(5, 6, 7))
        assert mallory.get(f"/web/media/{ref}").status_code == 404
        sha = ref.split(".")[0]
        forged = f"{sha}.{'0' * 32}"
        assert mallory.get(f"/web/media/{forged}").status_code == 404
        sent = mallory.post("/web/personas/ekko/messages", json={"text": "hi", "images": [ref]})
        assert sent.status_code == 404
        assert mallory.get("/web/media/..%2F..%2Fpersonae.db").status_code == 404


@pytest.mark.parametrize(
    ("data", "mime", "status", "says"),
    [
        (png()[:-20], "image/png", 400, "corrupt or truncated"),
        (b"GIF89a<script>alert(1)</script>", "image/gif", 400, "corrupt or truncated"),
        (b"%PDF-1.4 not a photo", "image/png", 400, "content is application/pdf"),
        (b"", "image/png", 400, "empty"),
        (png(400, 400, (0, 0, 0)) + bytes(LIMIT), "image/png", 413,
         "PERSONAE_MEDIA_MAX_IMAGE_BYTES"),
    ],
    ids=["truncated", "script-as-gif", "pdf-as-png", "empty", "too-large"],
)  # fmt: skip
def test_hostile_uploads_are_refused(
    photos: LiveServer, data: bytes, mime: str, status: int, says: str
) -> None:
    media = photos.settings.home / "media"
    before = sorted(media.iterdir()) if media.exists() else []
    with person(photos) as client:
        response = upload(client, data, mime)
    assert response.status_code == status, response.text
    assert says in response.json()["error"]["message"]
    assert (sorted(media.iterdir()) if media.exists() else []) == before
