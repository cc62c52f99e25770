"""The engine extractor: facts as JSON from the persona's engine, asked for with a schema where
the engine supports structured output (a real loopback OpenAI-compatible server), read from
plain replies where it does not (the scripted engine), and refused when unusable (the caller
then runs the offline extractor)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from personae.engines.openai_compatible import create_openai_engine
from personae.engines.scripted import create_scripted_engine
from personae.memory.engine_extract import extract_with_engine, parse_facts
from personae.settings import Settings

FACTS = {
    "facts": [
        {"text": "They live in Lisbon", "slot": "home", "importance": 0.9},
        {"text": "Their sister is called Ana", "slot": "name_of:sister"},
        {"text": "   ", "slot": "blank"},
        {"text": "They like tea", "slot": "Robert'); DROP TABLE", "importance": 7},
    ]
}


@dataclass
class ChatServer:
    """Speaks OpenAI's streaming chat completions; each reply streams ``content`` in pieces."""

    content: str
    url: str = ""
    bodies: list[dict[str, object]] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
        body = json.loads(await reader.readexactly(int(headers.get("content-length", "0"))))
        self.bodies.append(body)
        events = b""
        for start in range(0, len(self.content), 7):
            delta = {
                "choices": [{"index": 0, "delta": {"content": self.content[start : start + 7]}}]
            }
            events += f"data: {json.dumps(delta)}\n\n".encode()
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
async def chat_server() -> AsyncIterator[ChatServer]:
    state = ChatServer(json.dumps(FACTS))
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    async with server:
        yield state


async def test_a_capable_engine_is_asked_for_facts_by_schema(chat_server: ChatServer) -> None:
    engine = await create_openai_engine(Settings(openai_base_url=chat_server.url), "big-model")
    try:
        facts = await extract_with_engine(engine, "big-model", "I moved to Lisbon; my sister Ana")
    finally:
        await engine.aclose()
    assert facts is not None
    assert [(f.text, f.key, f.importance) for f in facts] == [
        ("They live in Lisbon", "home", 0.9),
        ("Their sister is called Ana", "name_of:sister", 0.7),
        ("They like tea", None, 1.0),  # a hostile slot is dropped, importance clamped
    ]
    [body] = [b for b in chat_server.bodies if "messages" in b]  # (then a /tokenize for usage)
    assert body["response_format"]["type"] == "json_schema"  # type: ignore[index]
    messages = body["messages"]
    assert messages[-1] == {"role": "user", "content": "I moved to Lisbon; my sister Ana"}  # type: ignore[index]


async def test_an_engine_without_structured_output_is_read_from_its_plain_reply() -> None:
    engine = await create_scripted_engine(Settings(), None)
    said = json.dumps({"facts": [{"text": "Their dog is Rex", "slot": "name_of:dog"}]})
    facts = await extract_with_engine(engine, None, said)  # the scripted engine echoes it
    assert facts is not None and [(f.text, f.key) for f in facts] == [
        ("Their dog is Rex", "name_of:dog")
    ]
    assert await extract_with_engine(engine, None, "just chatting, no JSON here") is None


@pytest.mark.parametrize(
    "reply", ["", "no json", '{"facts": "x"}', "[1, 2]", '{"facts": [', '{"other": []}']
)
def test_unusable_answers_give_none(reply: str) -> None:
    assert parse_facts(reply) is None


def test_an_empty_list_is_an_answer() -> None:
    assert parse_facts('Sure! {"facts": []} hope that helps') == []
