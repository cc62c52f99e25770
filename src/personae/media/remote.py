"""Image URLs from /v1 content parts: data URLs decoded, http(s) URLs fetched only from public
addresses.

A remote URL is a request the server makes on a caller's behalf, so it must never reach what
only the server can reach (cloud metadata at 169.254.169.254, an admin port on loopback, the
private network). Every address the host name resolves to must be public; the connection then
goes to a checked address (the host name kept for TLS and the Host header), so a second DNS
answer cannot swap in a private one; each redirect is checked the same way, a few at most.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import re
import socket
from collections.abc import Callable
from urllib.parse import unquote_to_bytes, urljoin, urlsplit

import httpx

from personae.errors import MediaRefused

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_REDIRECTS = 3
FETCH_TIMEOUT_S = 10.0
_DATA_URL = re.compile(
    r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^;,]*)*?),(?P<data>.*)", re.S
)


def public_address(address: IpAddress) -> bool:
    """Globally routable unicast only: no loopback, private, link-local, CGNAT, multicast,
    reserved or unspecified addresses, and no IPv4 hidden in an IPv6 address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return public_address(embedded)
        if address.teredo is not None:
            return False
    return address.is_global and not address.is_multicast


def decode_data_url(url: str, limit: int) -> tuple[bytes, str | None]:
    """The bytes and declared type of a ``data:`` URL; the size is checked before decoding."""
    found = _DATA_URL.fullmatch(url)
    if found is None:
        raise MediaRefused("the data URL is malformed; send data:image/png;base64,<base64>")
    payload = found["data"]
    base64_encoded = ";base64" in (found["params"] or "").lower()
    estimate = len(payload) * 3 // 4 if base64_encoded else len(payload)
    if estimate > limit:
        raise MediaRefused(
            f"the image in the data URL is about {estimate} bytes, over the limit of {limit}; "
            "send a smaller image"
        )
    try:
        data = (
            base64.b64decode(payload.strip(), validate=True)
            if base64_encoded
            else unquote_to_bytes(payload)
        )
    except (binascii.Error, ValueError):
        raise MediaRefused("the data URL's base64 is invalid; encode the image again") from None
    return data, found["mime"]


class RemoteImages:
    """Fetches http(s) URLs from public addresses only (``allowed`` decides; tests narrow it)."""

    def __init__(
        self,
        limit: int,
        allowed: Callable[[IpAddress], bool] = public_address,
        timeout_s: float = FETCH_TIMEOUT_S,
    ) -> None:
        self.limit = limit
        self.allowed = allowed
        self.timeout_s = timeout_s

    async def fetch(self, url: str) -> tuple[bytes, str | None]:
        """The bytes and the server's declared type; raises MediaRefused saying why not."""
        async with httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False) as client:
            for _ in range(MAX_REDIRECTS + 1):
                response = await self._get(client, url)
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    await response.aclose()
                    url = urljoin(url, location)
                    continue
                return await self._body(response, url)
        raise MediaRefused(f"the image URL redirects more than {MAX_REDIRECTS} times")

    async def _get(self, client: httpx.AsyncClient, url: str) -> httpx.Response:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise MediaRefused(f"only http(s) image URLs can be fetched, not {url[:100]!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = await self._checked_address(parts.hostname, port)
        pinned = f"[{address}]" if address.version == 6 else str(address)
        target = parts._replace(netloc=f"{pinned}:{port}").geturl()
        host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        request = client.build_request(
            "GET", target, headers={"Host": host, "Accept": "image/*"},
            extensions={"sni_hostname": parts.hostname},
        )  # fmt: skip
        try:
            return await client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise MediaRefused(
                f"the image URL could not be fetched ({type(exc).__name__}); check it"
            ) from None

    async def _checked_address(self, host: str, port: int) -> IpAddress:
        try:
            literal: IpAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [literal]
        else:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
            except OSError:
                raise MediaRefused(f"the image URL's host {host!r} does not resolve") from None
            addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        refused = [a for a in addresses if not self.allowed(a)]
        if refused or not addresses:
            raise MediaRefused(
                f"the image URL's host {host!r} resolves to a non-public address "
                f"({refused[0] if refused else 'none'}): private, loopback and link-local "
                "addresses are never fetched; send the image as a data URL"
            )
        return addresses[0]

    async def _body(self, response: httpx.Response, url: str) -> tuple[bytes, str | None]:
        try:
            if response.status_code != 200:
                raise MediaRefused(
                    f"the image URL answered {response.status_code}; check it, or send the "
                    "image as a data URL"
                )
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > self.limit:
                raise MediaRefused(
                    f"the image at the URL is {declared} bytes, over the limit of {self.limit}"
                )
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.limit:
                    raise MediaRefused(
                        f"the image at the URL is over the limit of {self.limit} bytes"
                    )
                chunks.append(chunk)
            mime = response.headers.get("content-type", "").split(";")[0].strip() or None
            return b"".join(chunks), mime
        except httpx.HTTPError as exc:
            why = type(exc).__name__
            raise MediaRefused(f"the image URL failed mid-download ({why})") from None
        finally:
            await response.aclose()
