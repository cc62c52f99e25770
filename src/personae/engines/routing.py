"""endpoints: one model served by several OpenAI-compatible endpoints, routed with failover.

The model and its endpoints come from the endpoints file (engines/endpoints.py); a persona
picks the model with ``model.name`` (engine ``endpoints``). Per request:

- affinity: endpoints are ranked by rendezvous hashing of the prompt's first message (the
  persona's prefix), weighted, so one persona keeps landing on one endpoint and reuses its
  prefix cache there; an endpoint that goes down moves only its own personas;
- concurrency: each endpoint takes at most ``concurrency`` requests at once; a request goes to
  the best-ranked endpoint with room, else waits for its first choice;
- circuit breaking: a refused connection, or ``endpoint_breaker_failures`` transient failures
  in a row, take an endpoint out; a health check (GET /v1/models every ``endpoint_health_s``)
  brings it back;
- failover: a request that fails before its first token goes to the next endpoint; a stream
  that breaks mid-reply continues on the next endpoint from the text already delivered (sent
  as a final assistant message to continue), so no text is ever delivered twice;
- every endpoint down: EngineUnavailable, after one fresh round of health checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace

import httpx

from personae.contracts import Engine
from personae.engines.endpoints import Endpoint, ModelEndpoints, load_endpoints
from personae.engines.openai_compatible import OpenAICompatibleEngine
from personae.errors import ConfigError, EngineError, EngineUnavailable
from personae.metrics import ENDPOINT_UP, ENGINE_FAILOVERS, ENGINE_REQUESTS, ENGINE_SECONDS
from personae.plugins import RegisterEngine, hookimpl
from personae.settings import Settings
from personae.types import ChatMessage, EngineInfo, GenerationChunk, GenerationRequest, Usage

NAME = "endpoints"
log = logging.getLogger(__name__)


@dataclass(eq=False)
class Route:
    """One endpoint at run time: its client, its in-flight limit and its breaker."""

    spec: Endpoint
    engine: OpenAICompatibleEngine
    limit: asyncio.Semaphore
    in_flight: int = 0
    failures: int = 0
    up: bool = True
    last_error: str = ""

    def score(self, key: bytes) -> float:
        """Rendezvous weight: the highest score for a key wins, stable while endpoints live."""
        digest = hashlib.blake2b(key + self.spec.base_url.encode(), digest_size=8).digest()
        uniform = (int.from_bytes(digest, "big") + 1) / (2**64 + 1)  # in (0, 1)
        return -self.spec.weight / math.log(uniform)


@dataclass
class RoutingEngine:
    """The ``endpoints`` engine of one model; build it with ``create_routing_engine``."""

    model: ModelEndpoints
    routes: list[Route]
    health_s: float
    breaker_failures: int
    info: EngineInfo = field(init=False)
    _health: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.info = EngineInfo(
            name=NAME,
            model=self.model.name,
            context_window=min(r.spec.context_window for r in self.routes),
            parallel_slots=sum(r.spec.concurrency for r in self.routes),
            supports_response_format=True,
            supports_logprobs=True,
            template=self.model.template,
        )
        for route in self.routes:
            ENDPOINT_UP.labels(self.model.name, route.spec.base_url).set(1)

    # ------------------------------------------------------------ Engine

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        self._watch()
        key = _affinity_key(messages)
        last: EngineUnavailable | None = None
        for route in await self._ranked(key):
            try:
                return await route.engine.count_tokens(messages)
            except EngineUnavailable as exc:
                self._failed(route, exc)
                last = exc
        raise self._all_down(last)

    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        self._watch()
        key = _affinity_key(request.messages)
        delivered = ""
        pieces = 0
        tried: set[int] = set()
        last: EngineUnavailable | None = None
        while True:
            route = await self._choose(key, tried)
            if route is None:
                raise self._all_down(last)
            tried.add(id(route))
            attempt = _continued(request, delivered, pieces)
            started = time.perf_counter()
            final: GenerationChunk | None = None
            try:
                async with self._slot(route):
                    async for chunk in route.engine.generate(attempt):
                        if chunk.finish_reason is not None:
                            final = chunk
                            continue
                        delivered += chunk.text
                        pieces += 1 if chunk.text else 0
                        yield chunk
            except EngineUnavailable as exc:
                self._record(route, "unavailable", started)
                self._failed(route, exc)
                ENGINE_FAILOVERS.labels(
                    self.model.name, "mid_stream" if delivered else "before"
                ).inc()
                last = exc
                continue
            except EngineError:
                self._record(route, "error", started)
                raise
            self._record(route, "ok", started)
            route.failures = 0
            assert final is not None  # the endpoint's reader raises when the stream ends early
            yield _total(final, pieces, attempt is not request)
            return

    async def healthy(self) -> bool:
        """A fresh health round (for /readyz): True when at least one endpoint answers."""
        await self._check_all()
        return any(route.up for route in self.routes)

    async def aclose(self) -> None:
        if self._health is not None:
            self._health.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health
        for route in self.routes:
            await route.engine.aclose()

    # ------------------------------------------------------------ routing

    async def _ranked(self, key: bytes) -> list[Route]:
        """Live endpoints, best first for this key; a fresh health round if none is live."""
        live = [r for r in self.routes if r.up]
        if not live:
            await self._check_all()
            live = [r for r in self.routes if r.up]
        return sorted(live, key=lambda r: r.score(key), reverse=True)

    async def _choose(self, key: bytes, tried: set[int]) -> Route | None:
        ranked = [r for r in await self._ranked(key) if id(r) not in tried]
        if not ranked:
            return None
        for route in ranked:
            if route.in_flight < route.spec.concurrency:
                return route
        return ranked[0]  # every one is full: wait for the persona's own endpoint

    @contextlib.asynccontextmanager
    async def _slot(self, route: Route) -> AsyncIterator[None]:
        route.in_flight += 1
        try:
            async with route.limit:
                yield
        finally:
            route.in_flight -= 1

    def _failed(self, route: Route, exc: EngineUnavailable) -> None:
        route.failures += 1
        route.last_error = str(exc)
        refused = isinstance(exc.__cause__, httpx.ConnectError)
        if route.up and (refused or route.failures >= self.breaker_failures):
            route.up = False
            ENDPOINT_UP.labels(self.model.name, route.spec.base_url).set(0)
            log.warning("endpoint %s of model %s is out: %s", route.spec.base_url,
                        self.model.name, exc)  # fmt: skip

    def _record(self, route: Route, outcome: str, started: float) -> None:
        endpoint = route.spec.base_url
        ENGINE_REQUESTS.labels(self.model.name, endpoint, outcome).inc()
        ENGINE_SECONDS.labels(self.model.name, endpoint).observe(time.perf_counter() - started)

    def _all_down(self, last: EngineUnavailable | None) -> EngineUnavailable:
        reasons = "; ".join(
            f"{r.spec.base_url}: {r.last_error or 'unreachable'}" for r in self.routes
        )
        error = EngineUnavailable(
            f"engine {NAME}: every endpoint of model {self.model.name!r} is down ({reasons}); "
            "the turn is retried when one answers its health check again",
            max(1, math.ceil(self.health_s)),
        )
        error.__cause__ = last
        return error

    # ------------------------------------------------------------ health

    def _watch(self) -> None:
        if self._health is None or self._health.done():
            self._health = asyncio.create_task(self._health_loop(), name=f"health {NAME}")

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.health_s)
            try:
                await self._check_all()
            except Exception:  # a bug here must not end the checks
                log.exception("health checks of model %s failed", self.model.name)

    async def _check_all(self) -> None:
        results = await asyncio.gather(*(r.engine.healthy() for r in self.routes))
        for route, ok in zip(self.routes, results, strict=True):
            if ok and not route.up:
                log.info("endpoint %s of model %s is back", route.spec.base_url, self.model.name)
                route.up, route.failures = True, 0
            elif not ok:
                route.up, route.last_error = False, "health check failed"
            ENDPOINT_UP.labels(self.model.name, route.spec.base_url).set(1 if route.up else 0)


def _affinity_key(messages: Sequence[ChatMessage]) -> bytes:
    """The persona's prefix: the prompt's first message (its system prompt)."""
    return messages[0].content.encode() if messages else b""


def _continued(request: GenerationRequest, delivered: str, pieces: int) -> GenerationRequest:
    """The request that carries on after ``delivered``: the partial reply as an assistant
    message to continue, with the tokens left."""
    if not delivered:
        return request
    messages = (*request.messages, ChatMessage("assistant", delivered))
    return replace(request, messages=messages, max_tokens=max(1, request.max_tokens - pieces))


def _total(final: GenerationChunk, pieces: int, continued: bool) -> GenerationChunk:
    """The last chunk; after a restart its completion tokens count the whole reply."""
    usage = final.usage or Usage()
    if continued:
        usage = replace(usage, completion_tokens=max(usage.completion_tokens, pieces))
    return replace(final, usage=usage)


_cache: dict[tuple[str, float], dict[str, ModelEndpoints]] = {}


def endpoint_models(settings: Settings) -> dict[str, ModelEndpoints]:
    """The models of PERSONAE_ENDPOINTS, read once per file version; raises EndpointsInvalid."""
    if settings.endpoints is None:
        raise ConfigError(
            f"engine {NAME} needs an endpoints file: set PERSONAE_ENDPOINTS (or pass "
            "--endpoints) to a YAML file listing models and their endpoints"
        )
    path = settings.endpoints
    stamp = path.stat().st_mtime if path.is_file() else -1.0
    found = _cache.get((str(path), stamp))
    if found is None:
        found = load_endpoints(path, settings.environment())
        _cache[(str(path), stamp)] = found
    return found


async def create_routing_engine(settings: Settings, model: str | None) -> Engine:
    """The routing engine of ``model`` (None: the file's first model)."""
    models = endpoint_models(settings)
    chosen = models.get(model) if model else next(iter(models.values()))
    if chosen is None:
        raise ConfigError(
            f"engine {NAME}: model {model!r} is not in {settings.endpoints}; models there: "
            f"{', '.join(models)}. Fix the persona's model.name or add the model to the file"
        )
    routes = [
        Route(
            spec=spec,
            engine=OpenAICompatibleEngine(
                settings,
                chosen.name,
                base_url=spec.base_url,
                api_key=spec.api_key,
                context_window=spec.context_window,
                parallel=spec.concurrency,
                template=spec.template,
            ),
            limit=asyncio.Semaphore(spec.concurrency),
        )
        for spec in chosen.endpoints
    ]
    return RoutingEngine(
        chosen, routes, settings.endpoint_health_s, settings.endpoint_breaker_failures
    )


@hookimpl
def register_engines(register: RegisterEngine) -> None:
    register(NAME, create_routing_engine)
