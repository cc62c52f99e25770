"""Logs and traces: text or JSON log lines carrying the running job's conversation and
message ids, and (optionally) OpenTelemetry spans around each job.

The ids travel in context variables set around a job (``job_context``), so every log line
written while a turn runs, in any module and any task it starts, carries them.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from personae.errors import ConfigError
from personae.heap import release_freed
from personae.settings import Settings
from personae.types import Job

_conversation: ContextVar[str | None] = ContextVar("personae_conversation", default=None)
_message: ContextVar[int | None] = ContextVar("personae_message", default=None)
_job_kind: ContextVar[str | None] = ContextVar("personae_job_kind", default=None)
_tracer: Any = None  # an OpenTelemetry tracer once configure_tracing ran with PERSONAE_OTEL


class JobIds(logging.Filter):
    """Adds the running job's ids to every record (None outside a job)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.conversation_id = _conversation.get()
        record.message_id = _message.get()
        record.job_kind = _job_kind.get()
        return True


class JsonLines(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the job's ids, the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("conversation_id", "message_id", "job_kind"):
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


GIL_SWITCH_S = 0.0005


def settle_process() -> None:
    """Once a long-running process has started: move what start-up allocated (modules, the
    app, models; some 150,000 objects) out of the garbage collector's sight. A full
    collection otherwise walks all of them, tens of milliseconds with every thread of the
    process stopped, at moments set by allocations: under a webhook flood, inside the
    acknowledgements' p99. What is frozen is never freed, which suits start-up's objects."""
    gc.collect()
    gc.freeze()
    release_freed()  # what start-up freed (loading models, migrations) leaves the RSS
    # The SQLite writer thread gives up the GIL around every statement and must get it back
    # to go on, while it holds the database's write lock: at Python's default 5 ms switch
    # interval a busy event loop (or a turn) made each of those waits up to 5 ms, a
    # transaction of twenty statements then held the lock (and the other process) for
    # tens of milliseconds.
    sys.setswitchinterval(GIL_SWITCH_S)


def configure_logging(settings: Settings) -> None:
    """The root logger at PERSONAE_LOG_LEVEL, in PERSONAE_LOG_FORMAT; uvicorn's loggers
    propagate to it (the CLI passes uvicorn no config of its own for JSON)."""
    handler = logging.StreamHandler()
    handler.addFilter(JobIds())
    if settings.log_format == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_personae", False)]:
        root.removeHandler(old)
    handler._personae = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())


def configure_tracing(settings: Settings) -> None:
    """With PERSONAE_OTEL, spans of every job go to the OTLP exporter (configured by the
    standard OTEL_EXPORTER_OTLP_* variables); without it, nothing is imported."""
    global _tracer
    if not settings.otel:
        _tracer = None
        return
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise ConfigError(
            f"PERSONAE_OTEL is on but OpenTelemetry is not installed ({exc.name}); "
            "`pip install 'personae[otel]'`, or unset PERSONAE_OTEL"
        ) from None
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # an application may have set one up
        provider = TracerProvider(resource=Resource.create({"service.name": "personae"}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
    _tracer = trace.get_tracer("personae")


@contextlib.contextmanager
def job_context(job: Job) -> Iterator[None]:
    """Around one job: its ids on every log line, and its span when tracing is on."""
    tokens = (
        _conversation.set(job.conversation_id),
        _message.set(job.message_id),
        _job_kind.set(job.kind),
    )
    try:
        if _tracer is None:
            yield
        else:
            attributes = {
                "personae.job.kind": job.kind,
                "personae.conversation_id": job.conversation_id,
                "personae.message_id": job.message_id,
            }
            with _tracer.start_as_current_span(f"personae.{job.kind}", attributes=attributes):
                yield
    finally:
        _job_kind.reset(tokens[2])
        _message.reset(tokens[1])
        _conversation.reset(tokens[0])
