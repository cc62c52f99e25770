"""An open-loop webhook sender, run as its own process so it shares no event loop or GIL
with the server:

    python bench/_load.py --port PORT --rate 500 --seconds 30 --first 0 --out FILE

Every signed request is built before the clock starts. Request ``i`` is due at
``start + i / rate`` whatever happened to earlier ones (open loop): a free keep-alive
connection of ``--connections`` takes it; when all are busy it waits, and that wait counts.
Latency is measured from the due time to the end of the answer (no coordinated omission);
``service`` from the write. ``dispatch_lag`` is how late the sender itself handed a request
out: when it grows the sender, not the server, fell behind, and the result says so.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from typing import Any

from _channels import raw_request, text_webhook

PEOPLE = 100


def build(first: int, count: int, host: str) -> list[bytes]:
    at = int(time.time())
    requests = []
    for n in range(first, first + count):
        body = text_webhook(n % PEOPLE, f"wamid.BENCH{n:09d}", f"message {n} from the bench", at)
        requests.append(raw_request(body, host))
    return requests


class Sender:
    def __init__(self, port: int, requests: list[bytes], rate: float) -> None:
        self.port = port
        self.requests = requests
        self.rate = rate
        self.queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
        self.latency: list[float] = []
        self.service: list[float] = []
        self.lag: list[float] = []
        self.statuses: dict[str, int] = {}
        self.sent_at: list[float] = []

    async def dispatch(self, start: float) -> None:
        loop = asyncio.get_running_loop()
        for i in range(len(self.requests)):
            due = start + i / self.rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.lag.append(loop.time() - due)
            self.queue.put_nowait((i, due))

    async def connection(self) -> None:
        loop = asyncio.get_running_loop()
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        while (item := await self.queue.get()) is not None:
            i, due = item
            sent = loop.time()
            self.sent_at.append(sent)
            try:
                writer.write(self.requests[i])
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if length:
                    await reader.readexactly(length)
                status = head[9:12].decode()
            except (OSError, asyncio.IncompleteReadError) as err:
                status = type(err).__name__
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            done = loop.time()
            self.statuses[status] = self.statuses.get(status, 0) + 1
            self.latency.append(done - due)
            self.service.append(done - sent)
        writer.close()


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    count = int(args.rate * args.seconds)
    sender = Sender(args.port, build(args.first, count, f"127.0.0.1:{args.port}"), args.rate)
    workers = [asyncio.create_task(sender.connection()) for _ in range(args.connections)]
    await asyncio.sleep(0.2)  # connections open before the clock starts
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    await sender.dispatch(start)
    for _ in workers:
        sender.queue.put_nowait(None)
    _, pending = await asyncio.wait(workers, timeout=args.seconds + 60.0)
    for task in pending:
        task.cancel()
    end = loop.time()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    sends = sorted(sender.sent_at)
    window = (sends[-1] - start) if len(sends) > 1 else float("nan")
    ok = sender.statuses.get("200", 0)
    return {
        "target_rps": args.rate,
        "seconds": args.seconds,
        "requests": count,
        "answered_200": ok,
        "errors": count - ok,
        "statuses": sender.statuses,
        "send_rps": len(sends) / window if window > 0 else float("nan"),
        "ack_p50_ms": quantile(sender.latency, 0.50) * 1000,
        "ack_p99_ms": quantile(sender.latency, 0.99) * 1000,
        "ack_max_ms": max(sender.latency, default=float("nan")) * 1000,
        "service_p99_ms": quantile(sender.service, 0.99) * 1000,
        "dispatch_lag_p99_ms": quantile(sender.lag, 0.99) * 1000,
        "sender_cpu_share": cpu / (end - start),
        "connections": args.connections,
    }


def main() -> None:
    p = argparse.ArgumentParser(description="open-loop signed WhatsApp webhook sender")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--rate", type=float, required=True, help="requests per second")
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--first", type=int, default=0, help="first message number (unique wamids)")
    p.add_argument("--connections", type=int, default=100)
    p.add_argument("--out", required=True, help="write the result here as JSON")
    args = p.parse_args()
    result = asyncio.run(run(args))
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main()
