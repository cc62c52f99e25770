"""One embedder for a process's retrieval: embeds off the event loop, and a query that
several sources of one turn ask for at once (memory, knowledge) is embedded once."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
Embed = Callable[[Sequence[str]], Vectors]
CACHED_QUERIES = 256
# A query is embedded from at most this many characters (about 100 tokens): a long message
# would cost a recall several times a short one's embedding, and its opening says what it
# is about.
QUERY_CHARS = 400


class SharedEmbedder:
    def __init__(self, embed: Embed, *, cached: int = CACHED_QUERIES) -> None:
        self._embed = embed
        self._cached = cached
        self._recent: OrderedDict[str, asyncio.Future[npt.NDArray[np.float32]]] = OrderedDict()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def many(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors, one row per text (CPU-bound: runs in a thread)."""
        return await asyncio.to_thread(self._embed, list(texts))

    async def query(self, text: str) -> npt.NDArray[np.float32]:
        """The vector of one query; a text asked for again while (or soon after) it is
        embedded shares that result."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # futures belong to one loop (tests run many)
            self._recent.clear()
            self._loop = loop
        found = self._recent.get(text)
        if found is not None and not (found.done() and found.exception() is not None):
            self._recent.move_to_end(text)
            return await asyncio.shield(found)
        future: asyncio.Future[npt.NDArray[np.float32]] = loop.create_future()
        self._recent[text] = future
        if len(self._recent) > self._cached:
            self._recent.popitem(last=False)
        try:
            vector: npt.NDArray[np.float32] = (await self.many([text[:QUERY_CHARS]]))[0]
        except BaseException as exc:
            self._recent.pop(text, None)
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        future.set_result(vector)
        return vector


_process: SharedEmbedder | None = None


def process_embedder() -> SharedEmbedder:
    """The process's embedder over the shipped MiniLM (loaded on first use), shared by the
    memory and knowledge sources so a turn's query is embedded once."""
    global _process
    if _process is None:
        from personae.embed.minilm import load_minilm

        _process = SharedEmbedder(lambda texts: load_minilm().embed(texts))
    return _process
