"""Engines under test are real: the embedded model (loaded once per session), a real llama.cpp
HTTP server on loopback for the openai engine, and a small raw-asyncio HTTP server on loopback
that answers with the failures real servers send (503 + Retry-After, 400, cut streams)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from personae.contracts import Engine
from personae.engines.llamacpp import create_llamacpp_engine, default_model_path
from personae.settings import Settings
from personae.types import ChatMessage, GenerationChunk, GenerationRequest

CONTEXT_WINDOW = 1024


def llama_settings(**fields: Any) -> Settings:
    values: dict[str, Any] = {
        "engine": "llamacpp",
        "model": None,
        "context_window": CONTEXT_WINDOW,
        "parallel": 4,
        "threads": 1,  # 2 spinning threads on a busy 2-core box slow decoding 10-30x
        "prompt_cache_mib": 64,
    }
    values.update(fields)
    return Settings(**values)


def request(*messages: ChatMessage, max_tokens: int = 8, **fields: Any) -> GenerationRequest:
    return GenerationRequest(
        messages=messages, max_tokens=max_tokens, temperature=0.0, top_p=1.0, **fields
    )


async def collect(engine: Engine, req: GenerationRequest) -> list[GenerationChunk]:
    return [chunk async for chunk in engine.generate(req)]


@pytest.fixture(scope="session")
async def llama() -> AsyncIterator[Engine]:
    """The embedded engine with the bundled SmolLM2, 4 slots, loaded once."""
    engine = await create_llamacpp_engine(llama_settings(), None)
    yield engine
    await engine.aclose()


@pytest.fixture(scope="session")
def llama_http() -> Iterator[str]:
    """A second, independent llama.cpp HTTP server (one slot) for the openai engine; its root."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(default_model_path())
    params.n_ctx = CONTEXT_WINDOW
    params.n_parallel = 1
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = 1
    params.verbosity = -1
    server = xllamacpp.Server(params)
    yield str(server.listening_address)
    del server


@dataclass
class FailingServer:
    """Answers /v1/chat/completions by the requested model name; /tokenize does not exist."""

    url: str = ""
    seen: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    def answer(self, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        if path != "/v1/chat/completions":
            return 404, {}, b'{"error": {"message": "no such endpoint"}}'
        model = json.loads(body).get("model")
        if model == "busy":
            return 503, {"Retry-After": "7"}, b'{"error": {"message": "overloaded, try later"}}'
        if model == "limited":
            return 429, {}, b"rate limited"
        if model == "cut":
            chunk = {"choices": [{"index": 0, "delta": {"content": "Hel"}}]}
            return 200, {"Content-Type": "text/event-stream"}, _sse(chunk)
        if model == "broken":
            error = {"error": {"code": 500, "message": "decode failed", "type": "server_error"}}
            return 200, {"Content-Type": "text/event-stream"}, _sse(error)
        return 400, {}, json.dumps({"error": {"message": f"model {model!r} not found"}}).encode()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        _method, path, _version = head[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.seen.append((path, headers, body))
        if json.loads(body or b"{}").get("model") == "hang":
            await asyncio.sleep(1.0)
        status, extra, payload = self.answer(path, body)
        lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(payload)}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in extra.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        await writer.drain()
        writer.close()


def _sse(event: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(event)}\n\n".encode()


@pytest.fixture
async def failing_server() -> AsyncIterator[FailingServer]:
    state = FailingServer()
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    state.url = f"http://127.0.0.1:{port}/v1"
    async with server:
        yield state
