"""A small OpenAI-compatible vision server on loopback: it reads the images a request really
carries (content parts with data URLs, decoded with Pillow) and answers what it saw, so a test
proves the image crossed the wire intact. It keeps every request body it got."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from PIL import Image


@dataclass
class VisionServer:
    url: str = ""
    bodies: list[dict[str, Any]] = field(default_factory=list)

    def answer(self, body: dict[str, Any]) -> str:
        last = body["messages"][-1]
        content = last["content"]
        if isinstance(content, str):
            return f"no picture reached me; the text was {content!r}"
        seen = []
        for part in content:
            if part["type"] == "image_url":
                url = part["image_url"]["url"]
                header, _, data = url.partition(",")
                image = Image.open(io.BytesIO(base64.b64decode(data)))
                colour = image.convert("RGB").getpixel((0, 0))
                seen.append(f"{header} {image.size[0]}x{image.size[1]} rgb{colour}")
        text = " ".join(p["text"] for p in content if p["type"] == "text")
        return f"I see {len(seen)}: {'; '.join(seen)} | text {text!r}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        _method, path, _version = head[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
        if path != "/v1/chat/completions":
            status, payload = 404, b'{"error": {"message": "no such endpoint"}}'
            extra = "Content-Type: application/json"
        else:
            body = json.loads(raw)
            self.bodies.append(body)
            words = self.answer(body).split(" ")
            chunks = [
                {"choices": [{"index": 0, "delta": {"content": w if i == 0 else " " + w}}]}
                for i, w in enumerate(words)
            ]
            chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            payload = b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks)
            payload += b"data: [DONE]\n\n"
            status, extra = 200, "Content-Type: text/event-stream"
        lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(payload)}", "Connection: close"]
        writer.write(("\r\n".join([*lines, extra]) + "\r\n\r\n").encode() + payload)
        await writer.drain()
        writer.close()


def start_vision_server() -> tuple[VisionServer, asyncio.AbstractEventLoop]:
    """Run the server on its own thread and loop (the personae test server has its own)."""
    state = VisionServer()
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    async def serve() -> None:
        server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
        state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
        ready.set()
        async with server:
            await server.serve_forever()

    threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True).start()
    ready.wait(10)
    return state, loop
