"""One embedder for a process's retrieval: embeds off the event loop, and a query that
several sources of one turn ask for at once (memory, knowledge) is embedded once.

Two lanes. A query (recall, on the reply path) runs at once in its own thread, through the
query model where one is given (the int8 MiniLM: a short query's pass is bound by reading the
weights). Bulk texts (memories of concurrent after-turn jobs, document chunks) wait for the
bulk pass running, if any, then go together in the next: one forward pass over many texts,
grouped by length (MiniLM.embed), costs far less than a pass per job (each pass reads the
whole model)."""

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
# Bulk texts taken into one pass (whole requests: one larger than this goes alone).
BULK_TEXTS = 256


class _Bulk:
    """Texts of one ``many`` call waiting for the bulk lane."""

    __slots__ = ("future", "texts")

    def __init__(self, texts: list[str], future: asyncio.Future[Vectors]) -> None:
        self.texts = texts
        self.future = future


class SharedEmbedder:
    def __init__(
        self, embed: Embed, *, query: Embed | None = None, cached: int = CACHED_QUERIES
    ) -> None:
        self._embed = embed
        self._query = query or embed
        self._cached = cached
        self._recent: OrderedDict[str, asyncio.Future[npt.NDArray[np.float32]]] = OrderedDict()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: list[_Bulk] = []
        self._draining = False
        self._drainer: asyncio.Task[None] | None = None

    def _on(self, loop: asyncio.AbstractEventLoop) -> None:
        """Futures and the bulk lane's task belong to one loop (tests run many)."""
        if loop is not self._loop:
            self._recent.clear()
            self._waiting = []
            self._draining = False
            self._loop = loop

    async def many(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors, one row per text, through the bulk lane (CPU-bound: a thread)."""
        if not texts:
            return await asyncio.to_thread(self._embed, [])
        loop = asyncio.get_running_loop()
        self._on(loop)
        waiting = _Bulk(list(texts), loop.create_future())
        self._waiting.append(waiting)
        if not self._draining:
            self._draining = True
            self._drainer = loop.create_task(self._drain())  # held: a bare task may be collected
        return await waiting.future

    def _take(self) -> list[_Bulk]:
        """The oldest waiting requests, up to BULK_TEXTS texts (at least one request);
        those whose callers were cancelled are dropped."""
        taken: list[_Bulk] = []
        count = 0
        while self._waiting and (not taken or count + len(self._waiting[0].texts) <= BULK_TEXTS):
            taken.append(self._waiting.pop(0))
            count += len(taken[-1].texts)
        return [t for t in taken if not t.future.done()]

    async def _drain(self) -> None:
        """Embed what waits, a pass at a time, until nothing does."""
        try:
            while self._waiting:
                taken = self._take()
                if not taken:
                    continue
                try:
                    vectors = await asyncio.to_thread(
                        self._embed, [text for t in taken for text in t.texts]
                    )
                except Exception as exc:
                    for t in taken:
                        if not t.future.done():
                            t.future.set_exception(exc)
                    continue
                row = 0
                for t in taken:
                    if not t.future.done():
                        t.future.set_result(vectors[row : row + len(t.texts)])
                    row += len(t.texts)
        finally:
            self._draining = False

    async def query(self, text: str) -> npt.NDArray[np.float32]:
        """The vector of one query; a text asked for again while (or soon after) it is
        embedded shares that result."""
        return await self.begin(text)

    def begin(self, text: str) -> asyncio.Future[npt.NDArray[np.float32]]:
        """``query``, already handed to its thread when this returns (a recall that reads the
        store first does not wait for the loop to get to a task). The pass belongs to no
        caller: cancelling the returned future leaves it running for the others."""
        loop = asyncio.get_running_loop()
        self._on(loop)
        found = self._recent.get(text)
        if found is not None and not (found.done() and found.exception() is not None):
            self._recent.move_to_end(text)
            return asyncio.shield(found)
        future: asyncio.Future[npt.NDArray[np.float32]] = loop.create_future()
        self._recent[text] = future
        if len(self._recent) > self._cached:
            self._recent.popitem(last=False)
        # The query lane: not behind a bulk pass (a recall waits for this).
        running = loop.run_in_executor(None, self._query, [text[:QUERY_CHARS]])
        running.add_done_callback(lambda done: self._embedded(text, future, done))
        return asyncio.shield(future)

    def _embedded(
        self, text: str, future: asyncio.Future[Vectors], done: asyncio.Future[Vectors]
    ) -> None:
        if not done.cancelled() and done.exception() is None:
            future.set_result(done.result()[0])
            return
        if self._recent.get(text) is future:
            self._recent.pop(text)  # asked again, it is embedded again
        if done.cancelled():  # the executor shut down under it
            future.cancel()
            return
        future.set_exception(done.exception())  # type: ignore[arg-type]
        future.exception()  # retrieved: no "never retrieved" warning when nobody waits


_process: SharedEmbedder | None = None


def process_embedder() -> SharedEmbedder:
    """The process's embedder over the shipped MiniLM (loaded on first use; queries through
    its int8 graph), shared by the memory and knowledge sources so a turn's query is
    embedded once."""
    global _process
    if _process is None:
        from personae.embed.minilm import load_minilm

        _process = SharedEmbedder(
            lambda texts: load_minilm().embed(texts),
            query=lambda texts: load_minilm(int8=True).embed(texts),
        )
    return _process
