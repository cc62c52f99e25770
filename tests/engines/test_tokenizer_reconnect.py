"""A tokenizer server that closes a kept-alive connection between requests (llama.cpp does
on its idle timeout) must not make the turn fail: counting is asked again on a new connection."""

from __future__ import annotations

import asyncio
import json

import httpx

from personae.engines._tokens import HttpTokenizer


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers the first request on each connection, then drops the connection silently
    when the next request arrives: httpx sees "Server disconnected"."""
    answered = False
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.decode("latin-1").split("\r\n"):
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            await reader.readexactly(length)
            if answered:
                break
            body = json.dumps({"tokens": [1, 2, 3]}).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                + f"content-length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
            answered = True
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()


async def test_count_survives_a_dropped_keepalive_connection() -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient() as client:
            tokenizer = HttpTokenizer(client, f"http://127.0.0.1:{port}", "", "llamacpp")
            assert await tokenizer.count_text("hello") == 3
            assert await tokenizer.count_text("hello again") == 3  # same connection: dropped
    finally:
        server.close()
        await server.wait_closed()
