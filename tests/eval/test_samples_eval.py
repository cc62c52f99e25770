"""On-demand evaluation (`make eval`): every sample persona answers the opening lines of its own
example dialogues through the whole pipeline on the real embedded model.

It checks what a small model can be held to: a real reply within the budget, no chat-template
tokens leaking, the persona prefix reused from cache, every turn stored with its trace. Quality
of the answers is judged by the persona evaluation suites, not here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from personae.runtime import Runtime
from personae.settings import Settings
from personae.types import GenerationOptions, PersonRef, TurnFinished, TurnInput

pytestmark = pytest.mark.slow

TEMPLATE_TOKENS = ("<|im_start|>", "<|im_end|>", "<|endoftext|>")


@pytest.fixture(scope="module")
async def runtime(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Runtime]:
    home: Path = tmp_path_factory.mktemp("eval-home")
    started = await Runtime.start(
        Settings(home=home, engine="llamacpp", threads=1, engine_timeout_s=600)
    )
    yield started
    await started.aclose()


async def test_every_sample_answers_its_example_openers(runtime: Runtime) -> None:
    records = await runtime.store.list_personas()
    assert len(records) >= 4
    for record in records:
        persona = record.persona
        person = PersonRef("eval", f"eval-{persona.id}")
        for number, dialogue in enumerate(persona.example_dialogues):
            turn = TurnInput(
                persona=persona.id,
                text=dialogue[0].user,
                person=person,
                options=GenerationOptions(temperature=0.0, seed=number),
            )
            events = [event async for event in runtime.turns.run(turn)]
            done = events[-1]
            assert isinstance(done, TurnFinished)
            reply = done.text.strip()
            where = f"{persona.id} dialogue {number}"
            assert len(reply.split()) >= 3, f"{where}: reply too short: {reply!r}"
            assert not any(token in reply for token in TEMPLATE_TOKENS), where
            trace = done.trace
            assert sum(s.tokens for s in trace.sections) + done.usage.completion_tokens <= (
                trace.budget
            ), where
            if number > 0:  # the persona's prefix was prefilled by the first turn
                assert done.usage.cached_tokens >= trace.sections[0].tokens - 16, where
        conversation = await runtime.store.open_conversation(persona.id, person)
        turns = await runtime.store.conversation_turns(conversation.id)
        assert len(turns) == len(persona.example_dialogues)
        assert all(t.status == "ok" and t.trace is not None for t in turns)


async def test_every_sample_persona_passes_its_own_eval_suite(runtime: Runtime) -> None:
    """`personae eval` on the embedded model: each sample's own test cases pass (judged rubrics
    are skipped: no judge here). The built-in checks run and are reported, not required: the
    135M model often fails to say it is an AI or to give its name (see `personae eval`)."""
    from personae.evals.service import evaluate

    failing, builtins = [], []
    for record in await runtime.store.list_personas():
        outcome = await evaluate(runtime, record.persona.id)
        assert any(case.kind == "persona" for case in outcome.run.cases), record.persona.id
        for case in outcome.run.cases:
            for check in case.checks:
                if check.status in ("fail", "error"):
                    reply = case.replies[-1] if case.replies else ""
                    line = f"{record.persona.id} / {case.name} / {check.check}: {check.detail}"
                    (builtins if case.kind == "builtin" else failing).append(f"{line} {reply!r}")
    print("built-in checks failed:", *builtins, sep="\n  ")
    assert not failing, "\n".join(failing)
