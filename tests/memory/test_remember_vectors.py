"""remember embeds each message once, alone, and gives an episode the vector of its own
message plus a share of the one before (its context), also across turns and after a restart
(the service re-embeds the stored message before when it has not seen it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from personae.embed import load_minilm
from personae.memory.service import CONTEXT_WEIGHT, MemoryService
from personae.stores.memory import MemoryStore
from personae.stores.sql import SqlStore
from personae.types import Persona, PersonRef

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)


class CountingEmbedder:
    """The shipped MiniLM, keeping the texts it was asked to embed."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.texts += texts
        return load_minilm().embed(texts)


def mixed(own: str, before: str) -> npt.NDArray[np.float32]:
    a, b = load_minilm().embed([own, before])
    assert CONTEXT_WEIGHT is not None
    v = a + np.float32(CONTEXT_WEIGHT) * b
    return np.asarray(v / np.linalg.norm(v), dtype=np.float32)


async def test_each_message_is_embedded_once_and_carries_the_one_before(tmp_path: Path) -> None:
    store = await SqlStore.open(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    try:
        persona = Persona.model_validate({"id": "pal", "name": "M", "greeting": "hi"})
        await store.put_persona(persona)
        person = (await store.open_conversation("pal", PersonRef("api", "ana"))).person_id
        counting = CountingEmbedder()
        memory = MemoryService(MemoryStore(store.runner), counting)
        said = [(None, "Ana", "We went hiking on Sunday"), (None, "M", "Where did you go?")]
        [[first], [reply]] = await memory.remember("pal", person, NOW, said)
        [[answer], _] = await memory.remember(
            "pal", person, NOW, [(None, "Ana", "Up to Sintra"), (None, "M", "Lovely")]
        )
        assert counting.texts == [
            "Ana: We went hiking on Sunday", "M: Where did you go?", "Ana: Up to Sintra",
            "M: Lovely",
        ], "each message once, alone"  # fmt: skip
        index = await memory.store.vector_set(person, "pal", False)
        vectors = dict(zip(index.ids.tolist(), index.vectors, strict=True))
        alone = load_minilm().embed(["Ana: We went hiking on Sunday"])[0]
        assert np.allclose(vectors[first], alone, atol=1e-5), "nothing before the first"
        want = mixed("M: Where did you go?", "Ana: We went hiking on Sunday")
        assert np.allclose(vectors[reply], want, atol=1e-5)
        assert np.allclose(vectors[answer], mixed("Ana: Up to Sintra", "M: Where did you go?"),
                           atol=1e-5), "the context crosses turns"  # fmt: skip

        restarted = CountingEmbedder()  # a new process: the message before is read back
        again = MemoryService(MemoryStore(store.runner), restarted)
        [[late]] = await again.remember("pal", person, NOW, [(None, "Ana", "And then lunch")])
        assert restarted.texts == ["Ana: And then lunch", "M: Lovely"]
        index = await memory.store.vector_set(person, "pal", False)
        late_vector = index.vectors[index.ids.tolist().index(late)]
        assert np.allclose(late_vector, mixed("Ana: And then lunch", "M: Lovely"), atol=1e-5)
    finally:
        await store.aclose()
