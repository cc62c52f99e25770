"""/webhooks/{kind}[/{route}]: every registered channel's webhook, mounted from its spec.

No API key or admin token here: each request is authenticated by its channel's handler
(Meta's X-Hub-Signature-256 over the raw body, Telegram's secret token header), which needs
the body exactly as it arrived. The routes stay out of the OpenAPI document: their callers
are the platforms, whose payloads the platforms document.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from personae.contracts import WebhookRequest
from personae.metrics import WEBHOOK_ACK_SECONDS, WEBHOOK_ACKS
from personae.server.deps import RuntimeDep
from personae.server.errors import unreachable
from personae.work.backlog import RETRY_AFTER_S

router = APIRouter(prefix="/webhooks", include_in_schema=False)


@router.api_route("/{kind}", methods=["GET", "POST"])
async def webhook(kind: str, request: Request, runtime: RuntimeDep) -> Response:
    """Meta's channels: GET is the verification handshake, POST the events."""
    return await _serve(kind, "", request, runtime)


@router.api_route("/{kind}/{route}", methods=["GET", "POST"])
async def webhook_route(kind: str, route: str, request: Request, runtime: RuntimeDep) -> Response:
    """Channels with one URL per account, e.g. /webhooks/telegram/{bot name}."""
    return await _serve(kind, route, request, runtime)


async def _serve(kind: str, route: str, request: Request, runtime: RuntimeDep) -> Response:
    started = time.perf_counter()
    response = await _answer(kind, route, request, runtime)
    known = kind if kind in runtime.connections.specs else "unknown"  # bounded label values
    WEBHOOK_ACKS.labels(known, str(response.status_code)).inc()
    WEBHOOK_ACK_SECONDS.labels(known).observe(time.perf_counter() - started)
    return response


async def _answer(kind: str, route: str, request: Request, runtime: RuntimeDep) -> Response:
    webhook_request = WebhookRequest(
        method=request.method,
        query=dict(request.query_params),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=await request.body(),  # raw bytes: the signature covers them
        route=route,
    )
    if request.method == "POST" and runtime.backlog is not None and await _full(runtime):
        return _unavailable(f"{runtime.backlog.depth} jobs wait for the workers; send it later")
    try:
        result = await runtime.inbound.webhook(kind, webhook_request)
    except Exception as exc:  # the store or queue is down: the platform delivers it again
        down = unreachable(exc)
        if down is None:
            raise
        return _unavailable(str(down), down.retry_after)
    if result is None:
        known = ", ".join(sorted(runtime.connections.specs)) or "none"
        return PlainTextResponse(f"no channel {kind!r}; channels: {known}", status_code=404)
    return PlainTextResponse(result.body, status_code=result.status)


async def _full(runtime: RuntimeDep) -> bool:
    assert runtime.backlog is not None
    try:
        return await runtime.backlog.full()
    except Exception as exc:
        if unreachable(exc) is None:
            raise
        return False  # the accept below meets the same outage and answers it


def _unavailable(why: str, retry_after: int = RETRY_AFTER_S) -> Response:
    """503 + Retry-After: Meta and Telegram deliver the webhook again later."""
    headers = {"Retry-After": str(retry_after)}
    return PlainTextResponse(why, status_code=503, headers=headers)
