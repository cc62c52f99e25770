"""Remote image URLs: fetched from allowed addresses only, every redirect checked again, the
connection pinned to the checked address, the size capped while reading."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator

import pytest

from personae.errors import MediaRefused
from personae.media.remote import IpAddress, RemoteImages, decode_data_url, public_address

from .images import png

LOOPBACK = ipaddress.ip_address("127.0.0.1")


def only_loopback_v4(address: IpAddress) -> bool:
    """Stands in for "public" in these tests: 127.0.0.1 plays the public server."""
    return address == LOOPBACK


class ImageHost:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        path = head[0].split(" ")[1]
        host = next(h.split(":", 1)[1].strip() for h in head[1:] if h.lower().startswith("host:"))
        self.requests.append((path, host))
        routes = {
            "/cat.png": (200, "image/png", png()),
            "/big.png": (200, "image/png", png(600, 600) + bytes(300_000)),
            "/to-metadata": (302, "", b""),
            "/to-ipv6-loopback": (302, "", b""),
            "/loop": (302, "", b""),
        }
        status, mime, body = routes.get(path, (404, "text/plain", b"no"))
        location = {
            "/to-metadata": "http://169.254.169.254/latest/meta-data/",
            "/to-ipv6-loopback": f"http://[::1]:{self.port}/cat.png",
            "/loop": "/loop",
        }.get(path)
        lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close"]
        lines += [f"Content-Type: {mime}"] if mime else []
        lines += [f"Location: {location}"] if location else []
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await writer.drain()
        writer.close()


@pytest.fixture
async def host() -> AsyncIterator[ImageHost]:
    state = ImageHost()
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    async with server:
        yield state


async def test_a_public_image_is_fetched_with_its_host_name_kept(host: ImageHost) -> None:
    names = {i[4][0] for i in await asyncio.get_running_loop().getaddrinfo("localhost", 80)}
    if names != {"127.0.0.1"}:
        pytest.skip(f"localhost resolves to {names} here, not only 127.0.0.1")
    fetcher = RemoteImages(200_000, allowed=only_loopback_v4)
    data, mime = await fetcher.fetch(f"http://localhost:{host.port}/cat.png")
    assert (data, mime) == (png(), "image/png")
    assert host.requests == [("/cat.png", f"localhost:{host.port}")]


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/to-metadata", "169.254.169.254"),
        ("/to-ipv6-loopback", "::1"),
        ("/loop", "redirects more than 3 times"),
        ("/big.png", "over the limit of 200000"),
        ("/missing.png", "answered 404"),
    ],
)
async def test_redirects_to_private_addresses_and_oversized_bodies_are_refused(
    host: ImageHost, path: str, says: str
) -> None:
    fetcher = RemoteImages(200_000, allowed=only_loopback_v4)
    with pytest.raises(MediaRefused, match=says.replace(".", r"\.")):
        await fetcher.fetch(f"http://127.0.0.1:{host.port}{path}")


async def test_the_default_policy_refuses_loopback_even_for_a_literal_address(
    host: ImageHost,
) -> None:
    with pytest.raises(MediaRefused, match="non-public address"):
        await RemoteImages(200_000).fetch(f"http://127.0.0.1:{host.port}/cat.png")
    assert host.requests == []  # refused before connecting


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.0.0.8", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1",
     "0.0.0.0", "224.0.0.1", "::1", "fe80::1", "fc00::1", "::ffff:10.0.0.1", "2002:a00:1::1",
     "::"],
)  # fmt: skip
def test_non_public_addresses(address: str) -> None:
    assert not public_address(ipaddress.ip_address(address))


def test_public_addresses() -> None:
    assert public_address(ipaddress.ip_address("93.184.216.34"))
    assert public_address(ipaddress.ip_address("2606:4700:4700::1111"))


def test_data_urls_are_checked_for_size_before_decoding() -> None:
    assert decode_data_url("data:image/png;base64,aGk=", 10) == (b"hi", "image/png")
    with pytest.raises(MediaRefused, match="over the limit of 10"):
        decode_data_url("data:image/png;base64," + "A" * 4000, 10)
