"""A failure while counting tokens is recorded on the turn like any engine failure."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from personae.errors import EngineError
from personae.stores.sql import SqlStore
from personae.types import ChatMessage, PersonRef, TurnInput

from .conftest import RecordingEngine, make_persona, runner_for, scripted
from .test_turn import collect


class TokenizerBug(RecordingEngine):
    """The shipped scripted engine behind a plugin's broken tokenizer (a bare KeyError)."""

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        raise KeyError("n_tokens")


async def test_a_count_failure_fails_the_turn_on_record(store: SqlStore) -> None:
    await store.put_persona(make_persona())
    broken = TokenizerBug(await scripted())
    runner = await runner_for(store, broken)
    ana = PersonRef("api", "ana")
    with pytest.raises(EngineError, match=r"failed while counting tokens \(KeyError"):
        await collect(runner, TurnInput(persona="helper", text="hello?", person=ana))
    conversation = await store.open_conversation("helper", ana)
    [failed] = await store.conversation_turns(conversation.id)
    assert failed.status == "failed"
    assert failed.trace is not None and "counting tokens" in (failed.trace.error or "")
    assert [m.content for m in await store.conversation_messages(conversation.id)] == ["hello?"]
    await broken.aclose()


async def test_a_stateless_count_failure_is_an_engine_error(store: SqlStore) -> None:
    await store.put_persona(make_persona())
    broken = TokenizerBug(await scripted())
    runner = await runner_for(store, broken)
    with pytest.raises(EngineError, match="counting tokens"):
        await collect(runner, TurnInput(persona="helper", text="hello?"))
    await broken.aclose()
