"""A loopback Graph API for the channel benchmarks, run as its own process.

    python bench/_graph.py --port PORT [--record FILE]

It speaks the wire format the WhatsApp adapter uses (the same answers as the test suite's
tests/channels/platform.py): ``POST /{version}/{phone_number_id}/messages`` answers a send
with ``{"messaging_product", "contacts", "messages": [{"id": "wamid.OUT<n>"}]}`` and a read
receipt / typing indicator with ``{"success": true}``. Unlike the test server it keeps
connections alive (HTTP/1.1), so it is not the bottleneck, and it appends every text send to
``--record`` as one JSON line ``{"to", "text", "at"}``, flushed at once: a benchmark reads the
file after the run to count what reached "WhatsApp".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import IO, Any


class Graph:
    def __init__(self, record: IO[str] | None) -> None:
        self.record = record
        self.count = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                length = 0
                close = False
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    name = name.strip().lower()
                    if name == "content-length":
                        length = int(value)
                    elif name == "connection" and value.strip().lower() == "close":
                        close = True
                raw = await reader.readexactly(length) if length else b""
                status, payload = self.answer(method, path, json.loads(raw) if raw else None)
                writer.write(
                    f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def answer(self, method: str, path: str, body: Any) -> tuple[int, bytes]:
        if method != "POST" or not path.endswith("/messages") or not isinstance(body, dict):
            error = {"error": {"message": "Unknown path components", "code": 803}}
            return 404, json.dumps(error).encode()
        if "status" in body:  # read receipt and typing indicator
            return 200, b'{"success": true}'
        self.count += 1
        to = body.get("to", "")
        if self.record is not None:
            text = (body.get("text") or {}).get("body", "")
            self.record.write(json.dumps({"to": to, "text": text, "at": time.time()}) + "\n")
            self.record.flush()
        reply = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": f"wamid.OUT{self.count}"}],
        }
        return 200, json.dumps(reply).encode()


async def main(port: int, record: IO[str] | None) -> None:
    graph = Graph(record)
    server = await asyncio.start_server(graph.serve, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="loopback Graph API for the channel benchmarks")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--record", default=None, help="append each text send here as a JSON line")
    args = p.parse_args()
    record = open(args.record, "a", encoding="utf-8") if args.record else None  # noqa: SIM115
    asyncio.run(main(args.port, record))
