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
webhook its receiver did not take; a killed server takes it after its restart). Give
``--statuses-to`` several times to spread the reports over several web nodes, as a load
balancer would.

The reports go out through a fixed number of posting tasks, each holding one connection; one
that failed waits its back-off outside them. (One task per report on a shared client piled
thousands of requests into httpx's connection pool while the receiver was down, and the pool's
bookkeeping, quadratic in waiting requests, then starved this loop: each send answer took
minutes, the senders timed out and sent their replies again.)
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
POSTERS = 16  # status webhooks in flight at once
GIVE_UP_S = 600.0


class Report:
    """One status webhook still to be taken, with its next back-off."""

    def __init__(self, raw: bytes, headers: dict[str, str]) -> None:
        self.raw, self.headers = raw, headers
        self.deadline = time.monotonic() + GIVE_UP_S
        self.pause = 0.25


class Graph:
    def __init__(
        self, record: IO[str] | None, statuses_to: list[str] | None = None, app_secret: str = ""
    ) -> None:
        self.record = record
        self.count = 0
        self.statuses_to = statuses_to or []
        self.app_secret = app_secret
        self.reports: asyncio.Queue[Report] = asyncio.Queue()
        self.posters: list[asyncio.Task[None]] = []
        self.posted = 0

    def start_posting(self) -> None:
        if self.statuses_to:
            self.posters = [asyncio.create_task(self.post(i)) for i in range(POSTERS)]

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
        if self.statuses_to and tag:
            self.reports.put_nowait(self.report(wamid, to, str(tag)))
        return 200, json.dumps(reply).encode()

    def report(self, wamid: str, to: str, tag: str) -> Report:
        """The send's ``sent`` status webhook, signed with the app secret."""
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
        return Report(raw, headers)

    async def post(self, index: int) -> None:
        """Post reports until each is answered 200; one that fails goes back to the queue
        after its back-off (like Meta, less often the longer it fails), so it holds no
        poster while it waits. Poster ``index`` starts at web node ``index``."""
        loop = asyncio.get_running_loop()
        turn = index
        nodes = len(self.statuses_to)  # one request in flight: the pool never queues
        limits = httpx.Limits(max_connections=nodes, max_keepalive_connections=nodes)
        async with httpx.AsyncClient(timeout=5.0, limits=limits) as client:
            while True:
                report = await self.reports.get()
                url = self.statuses_to[turn % len(self.statuses_to)]
                turn += 1
                try:
                    answer = await client.post(url, content=report.raw, headers=report.headers)
                    if answer.status_code == 200:
                        self.posted += 1
                        continue
                except httpx.HTTPError:
                    pass
                if time.monotonic() < report.deadline:
                    loop.call_later(report.pause, self.reports.put_nowait, report)
                    report.pause = min(4.0, report.pause * 2)


async def main(
    port: int, record: IO[str] | None, statuses_to: list[str] | None, app_secret: str
) -> None:
    graph = Graph(record, statuses_to, app_secret)
    graph.start_posting()
    server = await asyncio.start_server(graph.serve, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="loopback Graph API for the channel benchmarks")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--record", default=None, help="append each text send here as a JSON line")
    p.add_argument(
        "--statuses-to", action="append", default=None,
        help="post a sent status webhook here per send (several: in turn)",
    )  # fmt: skip
    p.add_argument("--app-secret", default="", help="signs the status webhooks")
    args = p.parse_args()
    record = open(args.record, "a", encoding="utf-8") if args.record else None  # noqa: SIM115
    asyncio.run(main(args.port, record, args.statuses_to, args.app_secret))
