"""Prometheus metrics: one registry per process, exposed at /metrics.

Names follow Prometheus conventions (base units, ``_total`` counters). Labels stay bounded:
stages, endpoint URLs from the endpoints file, channel names and outcomes, never people,
conversations or message text. Modules record through the helpers here, so none of them
depends on prometheus_client's types.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)

from personae.types import Timings

REGISTRY = CollectorRegistry(auto_describe=True)
# From a webhook's acknowledgement (ms) to a long reply (minutes): seconds, log-spaced.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 180.0)

TURN_STAGE_SECONDS = Histogram(
    "personae_turn_stage_seconds",
    "Turn latency by stage: queued (accept to start), assembled (prompt ready), first_token, total",
    ["stage"],
    buckets=_BUCKETS,
    registry=REGISTRY,
)
TURNS = Counter("personae_turns_total", "Turns finished, by status", ["status"], registry=REGISTRY)
QUEUE_DEPTH = Gauge(
    "personae_queue_depth", "Jobs recorded and not finished, by kind", ["kind"], registry=REGISTRY
)
QUEUE_AGE = Gauge(
    "personae_queue_oldest_age_seconds",
    "Age of the oldest unfinished job, by kind",
    ["kind"],
    registry=REGISTRY,
)
ENGINE_REQUESTS = Counter(
    "personae_engine_requests_total",
    "Generation requests per model endpoint, by outcome (ok, unavailable, error)",
    ["model", "endpoint", "outcome"],
    registry=REGISTRY,
)
ENGINE_SECONDS = Histogram(
    "personae_engine_request_seconds",
    "Time of one generation request per model endpoint, first byte to last",
    ["model", "endpoint"],
    buckets=_BUCKETS,
    registry=REGISTRY,
)
ENDPOINT_UP = Gauge(
    "personae_engine_endpoint_up",
    "1 while a model endpoint takes requests, 0 while its circuit breaker is open",
    ["model", "endpoint"],
    registry=REGISTRY,
)
ENGINE_FAILOVERS = Counter(
    "personae_engine_failovers_total",
    "Requests moved to another endpoint: before the first token, or mid-stream",
    ["model", "when"],
    registry=REGISTRY,
)
WEBHOOK_ACKS = Counter(
    "personae_webhook_acks_total",
    "Webhook requests answered, by channel and HTTP status",
    ["channel", "status"],
    registry=REGISTRY,
)
WEBHOOK_ACK_SECONDS = Histogram(
    "personae_webhook_ack_seconds",
    "Time to acknowledge a webhook request",
    ["channel"],
    buckets=_BUCKETS,
    registry=REGISTRY,
)
OUTBOX_RETRIES = Counter(
    "personae_outbox_retries_total",
    "Outbox sends deferred for a retry, by channel",
    ["channel"],
    registry=REGISTRY,
)

VIDEO_RENDERS = Counter(
    "personae_video_renders_total",
    "Video replies by format (web, whatsapp, telegram, messenger): rendered, or reused (kept)",
    ["format", "outcome"],
    registry=REGISTRY,
)


def observe_turn(timings: Timings, status: str) -> None:
    """A finished turn's stage times (ms since accept in the trace) and its status."""
    TURN_STAGE_SECONDS.labels("queued").observe(timings.queued_ms / 1000)
    TURN_STAGE_SECONDS.labels("assembled").observe(timings.assembled_ms / 1000)
    if timings.first_token_ms is not None:
        TURN_STAGE_SECONDS.labels("first_token").observe(timings.first_token_ms / 1000)
    TURN_STAGE_SECONDS.labels("total").observe(timings.done_ms / 1000)
    TURNS.labels(status).inc()


def observe_backlog(
    backlog: Mapping[str, tuple[int, datetime | str | None]], kinds: Sequence[str] = ()
) -> None:
    """Queue depth and the oldest job's age per kind, from the store's backlog; ``kinds``
    are reported (as 0) even while none of them waits."""
    now = datetime.now(UTC)
    for kind in set(backlog) | _seen_kinds | set(kinds):
        count, oldest = backlog.get(kind, (0, None))
        _seen_kinds.add(kind)
        QUEUE_DEPTH.labels(kind).set(count)
        QUEUE_AGE.labels(kind).set(_age_s(oldest, now))


_seen_kinds: set[str] = set()


def _age_s(oldest: datetime | str | None, now: datetime) -> float:
    if oldest is None:
        return 0.0
    when = datetime.fromisoformat(oldest) if isinstance(oldest, str) else oldest
    if when.tzinfo is None:  # SQLite keeps UTC times without their zone
        when = when.replace(tzinfo=UTC)
    return max(0.0, (now - when).total_seconds())


def serve_metrics(port: int) -> Callable[[], None]:
    """Serve the registry on its own port (a worker has no web server); returns the stop."""
    server, thread = start_http_server(port, registry=REGISTRY)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop


def exposition() -> tuple[bytes, str]:
    """The registry in the text format, with its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
