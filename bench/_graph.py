"""A loopback Graph API for the channel benchmarks, run as its own process.

    python bench/_graph.py --port PORT [--record FILE]

It speaks the wire format the WhatsApp adapter uses (the same answers as the test suite's
tests/channels/platform.py): ``POST /{version}/{phone_number_id}/messages`` answers a send
with ``{"messaging_product", "contacts", "messages": [{"id": "wamid.OUT<n>"}]}`` and a read
receipt / typing indicator with ``{"success": true}``. Unlike the test server it keeps
connections alive (HTTP/1.1), so it is not the bottleneck, and it appends every text send to
``--record`` as one JSON line ``{"to", "text", "at"}``, flushed at once: a benchmark reads the
file after the run to count what reached "WhatsApp".

With ``--statuses-to URL --app-secret S`` it also reports each text send as WhatsApp does: a
``sent`` status webhook, signed with the app secret, carrying the send's
``biz_opaque_callback_data``, posted to URL and retried until it is answered 200 (Meta retries a
webhook its receiver did not take; a killed server takes it after its restart).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import time
from typing import IO, Any

import httpx

PHONE_ID = "106540352242922"  # the benchmarks' number (bench/_channels.py)


class Graph:
    def __init__(
        self, record: IO[str] | None, statuses_to: str | None = None, app_secret: str = ""
    ) -> None:
        self.record = record
        self.count = 0
        self.statuses_to = statuses_to
        self.app_secret = app_secret
        self.client = httpx.AsyncClient(timeout=5.0) if statuses_to else None
        self.tasks: set[asyncio.Task[None]] = set()

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
        wamid = f"wamid.OUT{self.count}"
        reply = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": wamid}],
        }
        tag = body.get("biz_opaque_callback_data")
        if self.client is not None and tag:
            task = asyncio.ensure_future(self.report(wamid, to, str(tag)))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return 200, json.dumps(reply).encode()

    async def report(self, wamid: str, to: str, tag: str) -> None:
        """The send's ``sent`` status webhook, posted until the receiver answers 200."""
        status = {"id": wamid, "status": "sent", "timestamp": str(int(time.time())),
                  "recipient_id": to, "biz_opaque_callback_data": tag}  # fmt: skip
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_ID},
            "statuses": [status],
        }
        change = {"value": value, "field": "messages"}
        envelope = {
            "object": "whatsapp_business_account",
            "entry": [{"id": "419561257915477", "changes": [change]}],
        }
        raw = json.dumps(envelope).encode()
        digest = hmac.new(self.app_secret.encode(), raw, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}
        assert self.client is not None and self.statuses_to is not None
        deadline = time.monotonic() + 600.0
        pause = 0.25
        while time.monotonic() < deadline:
            try:
                answer = await self.client.post(self.statuses_to, content=raw, headers=headers)
                if answer.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(pause)
            pause = min(4.0, pause * 2)  # like Meta, less often the longer it fails


async def main(port: int, record: IO[str] | None, statuses_to: str | None, app_secret: str) -> None:
    graph = Graph(record, statuses_to, app_secret)
    server = await asyncio.start_server(graph.serve, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="loopback Graph API for the channel benchmarks")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--record", default=None, help="append each text send here as a JSON line")
    p.add_argument("--statuses-to", default=None, help="post a sent status webhook here per send")
    p.add_argument("--app-secret", default="", help="signs the status webhooks")
    args = p.parse_args()
    record = open(args.record, "a", encoding="utf-8") if args.record else None  # noqa: SIM115
    asyncio.run(main(args.port, record, args.statuses_to, args.app_secret))
