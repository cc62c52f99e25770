"""The engine extractor and rolling summaries through real turns: the runtime as `personae up`
wires it (SQLite store, work queue, after-turn memory jobs, the shipped MiniLM), its engine an
OpenAI-compatible server on loopback that answers each request as a capable model would: facts
as JSON when asked for them by schema, a summary when asked to update one, a reply otherwise."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from personae.memory.summary import INSTRUCTIONS as SUMMARY_INSTRUCTIONS
from personae.runtime import Runtime
from personae.settings import Settings
from personae.types import Persona, PersonRef, TurnFinished, TurnInput, TurnStarted

# Stated in a way the offline extractor's patterns do not catch: only the engine finds it.
TOLD = "We finally got the keys to the flat in Lisbon, the boxes are everywhere!"
FACT = "They now live in Lisbon"
SUMMARY = "Ana moved into a flat in Lisbon and is unpacking; she asked about tram passes."


@dataclass
class ModelServer:
    """OpenAI chat completions over HTTP/1.1 (streamed as server-sent events)."""

    url: str = ""
    chats: list[dict[str, object]] = field(default_factory=list)
    extractions: list[dict[str, object]] = field(default_factory=list)
    summaries: list[dict[str, object]] = field(default_factory=list)

    def answer(self, body: dict[str, object]) -> str:
        messages = body.get("messages")
        assert isinstance(messages, list)
        system = str(messages[0].get("content", "")) if messages else ""
        if body.get("response_format"):
            self.extractions.append(body)
            said = str(messages[-1].get("content", ""))
            facts = [{"text": FACT, "slot": "home", "importance": 0.9}] if "Lisbon" in said else []
            return json.dumps({"facts": facts})
        if system == SUMMARY_INSTRUCTIONS:
            self.summaries.append(body)
            return SUMMARY
        self.chats.append(body)
        return "Noted!"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        path = head[0].split(" ")[1]
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        if path != "/v1/chat/completions":
            writer.write(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            await writer.drain()
            writer.close()
            return
        content = self.answer(json.loads(body))
        events = b""
        for start in range(0, len(content), 9):
            piece = {"choices": [{"index": 0, "delta": {"content": content[start : start + 9]}}]}
            events += f"data: {json.dumps(piece)}\n\n".encode()
        done = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        events += f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            + f"Content-Length: {len(events)}\r\nConnection: close\r\n\r\n".encode()
            + events
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def model_server() -> AsyncIterator[ModelServer]:
    state = ModelServer()
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    async with server:
        yield state


@pytest.fixture
async def runtime(model_server: ModelServer, tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = Settings(
        home=tmp_path, engine="openai", openai_base_url=model_server.url, guards="",
        memory_summary_every=4,
    )  # fmt: skip
    started = await Runtime.start(settings, warm=False, channels=False)
    persona = Persona.model_validate({
        "id": "neighbour", "name": "Rui", "greeting": "Olá!",
        "memory": {"extractor": "engine"},
    })  # fmt: skip
    await started.store.put_persona(persona)
    try:
        yield started
    finally:
        await started.aclose()


async def say(runtime: Runtime, text: str) -> tuple[int | None, TurnFinished]:
    """The person's message id and the finished turn."""
    turn = TurnInput(persona="neighbour", text=text, person=PersonRef("api", "ana"))
    events = [e async for e in runtime.turns.run(turn)]
    await runtime.work.join()  # the turn's after-turn memory job too
    [started] = [e for e in events if isinstance(e, TurnStarted)]
    [done] = [e for e in events if isinstance(e, TurnFinished)]
    return started.inbound_message_id, done


def system_text(body: dict[str, object]) -> str:
    messages = body["messages"]
    assert isinstance(messages, list)
    return "\n".join(str(m["content"]) for m in messages if m["role"] == "system")


async def test_the_engine_extracts_facts_and_writes_rolling_summaries_after_turns(
    runtime: Runtime, model_server: ModelServer
) -> None:
    told_id, first = await say(runtime, TOLD)
    assert first.text == "Noted!"
    [asked] = model_server.extractions
    assert asked["messages"][-1]["content"] == TOLD  # type: ignore[index]
    person = (await runtime.store.open_conversation("neighbour", PersonRef("api", "ana"))).person_id
    [fact] = [m for m in await runtime.memory.store.facts(person, "neighbour") if m.kind == "fact"]
    assert (fact.text, fact.key) == (FACT, "home"), "the engine's fact, in its slot"
    assert fact.message_id == told_id, "with the message it came from"

    await say(runtime, "Which tram pass should I buy near my new flat?")
    assert FACT in system_text(model_server.chats[-1]), "recalled into the next turn's prompt"
    # Four messages kept since there was none: the engine wrote the first summary.
    [summarized] = model_server.summaries
    prompt = summarized["messages"][-1]["content"]  # type: ignore[index]
    assert "Previous summary: (none yet)" in prompt and "Lisbon" in prompt
    shown = [m for m in await runtime.memory.store.facts(person, "neighbour")]
    assert [(m.kind, m.text) for m in shown] == [("fact", FACT), ("summary", SUMMARY)]

    _, listed = await say(runtime, "/memory")  # answered without the model
    assert FACT in listed.text and SUMMARY in listed.text
    await say(runtime, "Remind me what I have been up to lately?")
    assert SUMMARY in system_text(model_server.chats[-1]), "the summary is recalled too"
