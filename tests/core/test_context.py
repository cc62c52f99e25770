"""The context-block seam: sources add blocks at their positions, fitted by priority, and the
trace says what was chosen, dropped or only considered."""

from __future__ import annotations

from collections.abc import Sequence

from personae.core.turn import TurnRunner
from personae.stores.sql import SqlStore
from personae.types import ContextBlock, ContextRequest, PersonRef, TurnFinished, TurnInput

from .conftest import RecordingEngine, make_persona, runner_for


class RecallSource:
    """A source that answers from what the turn says: the person's own words, recalled."""

    name = "recall"

    def __init__(self) -> None:
        self.requests: list[ContextRequest] = []

    async def blocks(self, turn: ContextRequest) -> Sequence[ContextBlock]:
        self.requests.append(turn)
        said = [item.message.content for item in turn.history if item.message.role == "user"]
        return [
            ContextBlock(f"Earlier the person said: {said[0]}" if said else "Nothing yet.",
                         source="recall", position="after_persona", priority=5,
                         reasons=(("recall:first", "the person's first message"),)),
            ContextBlock("Recall note at depth 1.", source="recall", position="in_history",
                         depth=1, priority=4, reasons=(("recall:depth", "at depth"),)),
            ContextBlock("", source="recall", reasons=(("recall:skip", "below threshold"),)),
            ContextBlock("filler " * 3000, source="bulk", priority=1,
                         reasons=(("bulk:1", "too big"),)),
        ]  # fmt: skip


async def _turn(runner: TurnRunner, person: str, text: str) -> TurnFinished:
    done = None
    async for event in runner.run(
        TurnInput(persona="helper", text=text, person=PersonRef("api", person))
    ):
        if isinstance(event, TurnFinished):
            done = event
    assert done is not None
    return done


async def test_blocks_are_placed_fitted_and_traced(
    store: SqlStore, engine: RecordingEngine
) -> None:
    await store.put_persona(make_persona(model={"context_budget": 600, "max_tokens": 40}))
    source = RecallSource()
    runner = await runner_for(store, engine, sources=[source])
    await _turn(runner, "ana", "my dog is called Rex")
    done = await _turn(runner, "ana", "what is my dog called?")

    last = engine.requests[-1].messages
    first = engine.requests[0].messages
    # The persona prefix is untouched and first: system card, then the greeting.
    assert last[:2] == first[:2]
    contents = [m.content for m in last]
    assert contents[2] == "Earlier the person said: my dog is called Rex"
    # The depth-1 block sits right before the new message, after the history.
    assert contents[-2:] == ["Recall note at depth 1.", "what is my dog called?"]
    assert contents.index("my dog is called Rex") < contents.index("Recall note at depth 1.")
    assert not any(c.startswith("filler") for c in contents), "the oversized block is dropped"

    request = source.requests[-1]
    assert request.persona.id == "helper" and request.conversation_id is not None
    assert request.history[0].message.content == "my dog is called Rex"

    notes = {(n.source, n.outcome, n.reasons[0][0]) for n in done.trace.context}
    assert notes == {
        ("recall", "chosen", "recall:first"),
        ("recall", "chosen", "recall:depth"),
        ("recall", "considered", "recall:skip"),
        ("bulk", "dropped", "bulk:1"),
    }
    assert [s.name for s in done.trace.sections] == ["persona", "recall", "history", "message"]
    # The stored trace keeps the account.
    conversation = await store.open_conversation("helper", PersonRef("api", "ana"))
    stored = (await store.conversation_turns(conversation.id))[-1].trace
    assert stored is not None and stored.context == done.trace.context


async def test_required_blocks_that_cannot_fit_refuse_the_turn(
    store: SqlStore, engine: RecordingEngine
) -> None:
    class Huge:
        name = "huge"

        async def blocks(self, turn: ContextRequest) -> Sequence[ContextBlock]:
            return [ContextBlock("x " * 2000, source="huge", droppable=False)]

    await store.put_persona(make_persona(model={"context_budget": 400, "max_tokens": 40}))
    runner = await runner_for(store, engine, sources=[Huge()])
    try:
        await _turn(runner, "bo", "hello")
    except Exception as exc:  # the BadRequest the turn raises
        assert "required context" in str(exc)
    else:
        raise AssertionError("a required block over the budget must refuse the turn")
    assert engine.requests == []
