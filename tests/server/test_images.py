"""Images on /v1/chat/completions: data URLs become stored attachments, a model that sees gets
them over the wire as image parts, a text-only one says honestly it cannot look; bad images,
lying types and private addresses are refused with a 400 naming the part."""

from __future__ import annotations

import base64
import io
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from personae.settings import Settings

from .live import ADMIN_TOKEN, LiveServer, start_server
from .vision import VisionServer, start_vision_server

PERSONAS = {
    "ekko": "id: ekko\nname: Ekko\ngreeting: Hi!\n",
    "seer": "id: seer\nname: Seer\ngreeting: Hi!\nmodel: {engine: scripted, name: vision}\n",
    "looker": "id: looker\nname: Looker\ngreeting: Hi!\nmodel: {engine: openai, name: v}\n",
}


def png(width: int = 32, height: int = 24, colour: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def ask(text: str, url: str, **extra: Any) -> dict[str, Any]:
    content = [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": url}}]
    return {"messages": [{"role": "user", "content": content}], **extra}


def _server(home: Path, **fields: Any) -> LiveServer:
    folder = home / "personas"
    folder.mkdir(parents=True)
    for slug, text in PERSONAS.items():
        (folder / f"{slug}.yaml").write_text(textwrap.dedent(text))
    settings = Settings(
        home=home, engine="scripted", admin_token=ADMIN_TOKEN, personas_dir=folder,
        load_samples=False, memory=False, **fields,
    )  # fmt: skip
    return start_server(settings)


@pytest.fixture(scope="module")
def vision() -> VisionServer:
    return start_vision_server()[0]


@pytest.fixture(scope="module")
def seeing(tmp_path_factory: pytest.TempPathFactory, vision: VisionServer) -> Iterator[LiveServer]:
    server = _server(
        tmp_path_factory.mktemp("seeing"), openai_base_url=vision.url, openai_accepts_images=True
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fetching(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = _server(tmp_path_factory.mktemp("fetching"), media_fetch_remote=True)
    yield server
    server.stop()


def post(server: LiveServer, model: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/chat/completions", json={"model": model, **body}, timeout=60
    )


def reply(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return str(response.json()["choices"][0]["message"]["content"])


def test_a_text_only_model_is_told_honestly_it_cannot_look(seeing: LiveServer) -> None:
    said = reply(post(seeing, "ekko", ask("what is this? [[engine-media]]", data_url(png()))))
    assert said.startswith("media: 0 images () note: [The person's message comes with a picture.")
    assert "cannot look at pictures" in said and "answer from their words or caption" in said


def test_a_model_that_sees_gets_the_image_part(seeing: LiveServer) -> None:
    said = reply(post(seeing, "seer", ask("[[engine-media]]", data_url(png()))))
    assert said == "media: 1 images (image/png 32x24) note: none"


def test_the_image_crosses_the_wire_to_an_openai_compatible_vision_server(
    seeing: LiveServer, vision: VisionServer
) -> None:
    # Declared JPEG, really a PNG: the server gets it with its real type.
    image = png(40, 30, (10, 200, 30))
    said = reply(post(seeing, "looker", ask("look at my plant", data_url(image, "image/jpeg"))))
    assert said == "I see 1: data:image/png;base64 40x30 rgb(10, 200, 30) | text 'look at my plant'"
    last = vision.bodies[-1]["messages"][-1]
    assert last["role"] == "user"
    assert [p["type"] for p in last["content"]] == ["text", "image_url"]


def test_a_kept_conversation_stores_the_image_once_in_the_media_store(seeing: LiveServer) -> None:
    image = png(20, 20, (1, 2, 3))
    for _ in range(2):
        reply(post(seeing, "seer", ask("mine", data_url(image), user="pat")))
    digest = __import__("hashlib").sha256(image).hexdigest()
    stored = seeing.settings.home / "media" / digest
    assert stored.read_bytes() == image
    assert os.stat(stored).st_mode & 0o777 == 0o600
    # A picture alone (no text) is a message too.
    only = {
        "role": "user",
        "content": [{"type": "image_url", "image_url": {"url": data_url(image)}}],
    }
    assert reply(post(seeing, "ekko", {"messages": [only]})) == "echo: [The person sent a picture]"


def test_an_image_larger_than_the_json_body_limit_is_accepted(seeing: LiveServer) -> None:
    noisy = Image.frombytes("RGB", (700, 600), os.urandom(700 * 600 * 3))
    out = io.BytesIO()
    noisy.save(out, "PNG")
    assert out.tell() > seeing.settings.max_body_bytes
    said = reply(post(seeing, "seer", ask("[[engine-media]]", data_url(out.getvalue()))))
    assert said == "media: 1 images (image/png 700x600) note: none"


def _bomb() -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    head = struct.pack(">IIBBBBB", 8_000, 8_000, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 10_000, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


PARAM = "messages.0.content.1.image_url.url"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (data_url(png()[:-40]), "corrupt or truncated"),
        (data_url(_bomb()), "over the limit of 40000000"),
        (data_url(b"<svg onload=alert(1)>", "image/png"), "content is text/plain"),
        (data_url(b"OggS" + bytes(100), "image/png"), "content is audio/ogg"),
        ("data:image/png;base64,@@@not-base64@@@", "base64 is invalid"),
        ("data:image/png;base64", "malformed"),
        ("file:///etc/passwd", "must be a data: URL or http(s)"),
        ("http://example.com/cat.png", "PERSONAE_MEDIA_FETCH_REMOTE is off"),
    ],
    ids=["truncated", "pixel-bomb", "svg-as-png", "ogg-as-png", "bad-base64", "no-comma",
         "file-url", "remote-off"],
)  # fmt: skip
def test_bad_images_are_a_400_naming_the_part(seeing: LiveServer, url: str, says: str) -> None:
    before = set(os.listdir(seeing.settings.home / "media"))
    response = post(seeing, "ekko", ask("hi", url, user="mallory"))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == PARAM
    assert says in error["message"]
    assert set(os.listdir(seeing.settings.home / "media")) == before  # nothing stored


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x.png",
        "http://10.1.2.3/x.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/x.png",
        "http://[::ffff:127.0.0.1]/x.png",
        "http://100.64.0.1/x.png",
        "https://localhost/x.png",
    ],
)
def test_private_addresses_are_never_fetched(fetching: LiveServer, url: str) -> None:
    response = post(fetching, "ekko", ask("hi", url))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == PARAM
    assert "non-public address" in error["message"]
