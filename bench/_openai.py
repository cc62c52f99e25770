"""A loopback OpenAI-compatible model server for the cluster benchmarks, run as its own process.

    python bench/_openai.py --port PORT [--model NAME] [--word-delay S] [--record FILE]

It speaks the chat-completions wire format personae's ``openai`` engine reads from vLLM and
llama.cpp: ``GET /v1/models`` (the health check), ``POST /v1/chat/completions`` with
``"stream": true`` answered as server-sent events (one ``chat.completion.chunk`` per word, a
chunk with ``finish_reason``, a usage chunk, ``data: [DONE]``) over chunked HTTP/1.1, and 404
for a tokenizer (``/tokenize``: the engine then estimates counts, as with a hosted API).

What it answers is the shipped scripted engine's reply (personae.engines.scripted:
"echo: <last user message>"), so a benchmark can tell from each reply which message it
answers. A request that ends in an assistant message continues it (a reply restarted on
another endpoint after this one was killed mid-stream): only the rest of the reply is sent.
``--word-delay`` paces the words, so a SIGKILL can land mid-reply. With ``--record`` every
request appends a JSON line ``{"at", "continues"}`` when it starts and ``{"at", "done"}`` when
its last byte is written (a benchmark sees which requests are in flight).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from typing import IO, Any

from personae.engines.scripted import reply_for
from personae.types import ChatMessage


class ModelServer:
    def __init__(self, model: str, word_delay: float, record: IO[str] | None) -> None:
        self.model, self.word_delay, self.record = model, word_delay, record
        self.served = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                raw = await reader.readexactly(length) if length else b""
                if method == "GET" and path.rstrip("/") == "/v1/models":
                    listing = {"object": "list", "data": [{"id": self.model, "object": "model"}]}
                    await self.whole(writer, 200, listing)
                elif method == "POST" and path == "/v1/chat/completions":
                    await self.complete(writer, json.loads(raw or b"{}"))
                else:
                    await self.whole(writer, 404, {"error": {"message": f"no route {path}"}})
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def whole(self, writer: asyncio.StreamWriter, status: int, body: Any) -> None:
        payload = json.dumps(body).encode()
        writer.write(
            f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Found'}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        await writer.drain()

    async def complete(self, writer: asyncio.StreamWriter, body: dict[str, Any]) -> None:
        messages = [ChatMessage(m["role"], str(m.get("content") or "")) for m in body["messages"]]
        started = ""
        if messages and messages[-1].role == "assistant":  # continue the final message
            started = messages[-1].content
            messages = messages[:-1]
        reply = reply_for(messages)
        rest = reply[len(started) :] if reply.startswith(started) else reply
        words = re.findall(r"\s*\S+", rest)[: int(body.get("max_tokens") or 1 << 30)]
        if self.record is not None:
            self.record.write(json.dumps({"at": time.time(), "continues": bool(started)}) + "\n")
            self.record.flush()
        self.served += 1
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        ident = f"chatcmpl-{self.served}"
        for word in words:
            if self.word_delay:
                await asyncio.sleep(self.word_delay)
            await self.event(writer, self.chunk(ident, {"content": word}, None))
        await self.event(writer, self.chunk(ident, {}, "stop"))
        usage = {"prompt_tokens": sum(len(m.content.split()) + 4 for m in messages),
                 "completion_tokens": len(words)}  # fmt: skip
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        await self.event(writer, {**self.chunk(ident, {}, None), "choices": [], "usage": usage})
        await self.event(writer, "[DONE]")
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        if self.record is not None:
            self.record.write(json.dumps({"at": time.time(), "done": True}) + "\n")
            self.record.flush()

    def chunk(self, ident: str, delta: dict[str, str], finish: str | None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {"id": ident, "object": "chat.completion.chunk", "created": int(time.time()),
                "model": self.model, "choices": [choice]}  # fmt: skip

    async def event(self, writer: asyncio.StreamWriter, data: Any) -> None:
        line = ("data: " + (data if isinstance(data, str) else json.dumps(data)) + "\n\n").encode()
        writer.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
        await writer.drain()


async def main(port: int, server: ModelServer) -> None:
    listener = await asyncio.start_server(server.serve, "127.0.0.1", port, backlog=1024)
    async with listener:
        await listener.serve_forever()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="loopback OpenAI-compatible server (scripted replies)")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--model", default="echo")
    p.add_argument("--word-delay", type=float, default=0.0, help="seconds before each word")
    p.add_argument("--record", default=None, help="append a JSON line per request here")
    args = p.parse_args()
    record = open(args.record, "a", encoding="utf-8") if args.record else None  # noqa: SIM115
    asyncio.run(main(args.port, ModelServer(args.model, args.word_delay, record)))
