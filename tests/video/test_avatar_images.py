"""SVG and URL avatars in video replies: drawings rasterised by CairoSVG in its safe mode (no
files, no addresses, no entities), URLs fetched only with remote media on and only from
public addresses (a real HTTP server on loopback stands in for the web)."""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from personae.core.avatars import AvatarPolicy
from personae.errors import MediaError
from personae.media.remote import IpAddress, RemoteImages
from personae.settings import Settings
from personae.types import Speech
from personae.video.avatar_images import SVG_WIDTH
from personae.video.render import FORMATS, render
from personae.video.replies import VideoReplies
from personae.voice.notes import VoiceNotes

pytest.importorskip("cairosvg", reason="SVG avatars need the svg extra (CairoSVG)")
ORANGE = (224, 122, 63)
SQUARE = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">'
    '<rect width="64" height="64" fill="#e07a3f"/>{extra}</svg>'
)
SAMPLE = Path(__file__).resolve().parents[2] / "src/personae/samples/avatars/cooking-coach.svg"


class Host:
    """A web host on loopback: /face.png and /face.svg; records every request."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        path = head.split(" ")[1]
        self.paths.append(path)
        out = io.BytesIO()
        Image.new("RGB", (40, 40), (10, 200, 30)).save(out, "PNG")
        routes = {
            "/face.png": ("image/png", out.getvalue()),
            "/face.svg": ("image/svg+xml", SQUARE.format(extra="").encode()),
        }
        mime, body = routes.get(path, ("text/plain", b""))
        status = "200 OK" if path in routes else "404 Not Found"
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: {mime}\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def host() -> AsyncIterator[Host]:
    state = Host()
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    async with server:
        yield state


def loopback(address: IpAddress) -> bool:
    return str(address) == "127.0.0.1"


def replies(root: Path, remote: RemoteImages | None = None) -> VideoReplies:
    policy = AvatarPolicy.of([root, SAMPLE.parent], "")
    return VideoReplies(VoiceNotes(Settings(home=root)), policy, remote=remote)


def centre(png: bytes | None) -> tuple[int, int, int]:
    assert png is not None
    with Image.open(io.BytesIO(png)) as image:
        assert image.width == SVG_WIDTH
        pixel: tuple[int, int, int] = image.convert("RGB").getpixel((image.width // 2, 5))
        return pixel


async def test_an_svg_avatar_file_or_data_uri_is_drawn(tmp_path: Path) -> None:
    drawing = tmp_path / "ana.svg"
    drawing.write_text(SQUARE.format(extra=""))
    made = replies(tmp_path)
    assert centre(await made.avatar(str(drawing))) == ORANGE
    inline = base64.b64encode(drawing.read_bytes()).decode()
    assert centre(await made.avatar(f"data:image/svg+xml;base64,{inline}")) == ORANGE
    sample = await made.avatar(str(SAMPLE))  # the shipped personas' avatars are SVG
    assert sample is not None
    face = render(sample, _silence(), "hola", FORMATS["web"], name="Rosa")
    assert face.data[4:8] == b"ftyp"


async def test_an_svg_reaches_no_file_and_no_address(tmp_path: Path, host: Host) -> None:
    links = (
        f'<image href="http://127.0.0.1:{host.port}/face.png" width="64" height="64"/>'
        '<image href="file:///etc/hostname" width="64" height="64"/>'
    )
    drawing = tmp_path / "sneaky.svg"
    drawing.write_text(SQUARE.format(extra=links))
    assert centre(await replies(tmp_path).avatar(str(drawing))) == ORANGE  # links left out
    assert host.paths == []
    entity = tmp_path / "entity.svg"
    entity.write_text(
        '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/hostname">]>'
        + SQUARE.format(extra="<text>&x;</text>")
    )
    with pytest.raises(MediaError, match="could not be drawn"):
        await replies(tmp_path).avatar(str(entity))
    broken = tmp_path / "broken.svg"
    broken.write_text("<svg><rect")
    with pytest.raises(MediaError, match="could not be drawn"):
        await replies(tmp_path).avatar(str(broken))


async def test_a_url_avatar_is_fetched_only_with_remote_media_on(
    tmp_path: Path, host: Host
) -> None:
    url = f"http://127.0.0.1:{host.port}/face.png"
    assert await replies(tmp_path).avatar(url) is None  # remote media off: the initial
    assert await replies(tmp_path, RemoteImages(200_000)).avatar(url) is None  # not public
    assert host.paths == []  # refused before connecting
    fetched = replies(tmp_path, RemoteImages(200_000, allowed=loopback))
    picture = await fetched.avatar(url)
    assert picture is not None and picture.startswith(b"\x89PNG")
    drawn = await fetched.avatar(f"http://127.0.0.1:{host.port}/face.svg")
    assert centre(drawn) == ORANGE
    assert await fetched.avatar(f"http://127.0.0.1:{host.port}/gone.png") is None  # 404
    assert host.paths == ["/face.png", "/face.svg", "/gone.png"]


def _silence() -> Speech:
    return Speech(b"\x10\x00" * 16000, 16000)
