"""/webhooks/{kind}[/{route}]: every registered channel's webhook, mounted from its spec.

No API key or admin token here: each request is authenticated by its channel's handler
(Meta's X-Hub-Signature-256 over the raw body, Telegram's secret token header), which needs
the body exactly as it arrived. The routes stay out of the OpenAPI document: their callers
are the platforms, whose payloads the platforms document.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from personae.contracts import WebhookRequest
from personae.metrics import WEBHOOK_ACK_SECONDS, WEBHOOK_ACKS
from personae.runtime import Runtime
from personae.server.deps import ServerState
from personae.server.errors import unreachable
from personae.work.backlog import RETRY_AFTER_S


async def webhook(request: Request) -> Response:
    """GET (Meta's verification handshake) and POST (the events) of /webhooks/{kind}, and of
    /webhooks/{kind}/{route} for channels with one URL per account (Telegram's bots)."""
    state: ServerState = request.app.state.personae
    runtime = state.runtime
    if runtime is None:  # still starting: the platform delivers it again
        return _unavailable("the server is still starting", 5)
    params = request.path_params
    return await _serve(params["kind"], params.get("route", ""), request, runtime)


# Plain Starlette routes, matched before every other: a webhook is the server's hottest
# request, and FastAPI's routing and dependency machinery cost more than its accept.
routes = [
    Route("/webhooks/{kind}", webhook, methods=["GET", "POST"], include_in_schema=False),
    Route("/webhooks/{kind}/{route}", webhook, methods=["GET", "POST"], include_in_schema=False),
]


async def _serve(kind: str, route: str, request: Request, runtime: Runtime) -> Response:
    started = time.perf_counter()
    response = await _answer(kind, route, request, runtime)
    known = kind if kind in runtime.connections.specs else "unknown"  # bounded label values
    WEBHOOK_ACKS.labels(known, str(response.status_code)).inc()
    WEBHOOK_ACK_SECONDS.labels(known).observe(time.perf_counter() - started)
    return response


async def _answer(kind: str, route: str, request: Request, runtime: Runtime) -> Response:
    webhook_request = WebhookRequest(
        method=request.method,
        query=dict(request.query_params),
        # ASGI hands header names over lower-cased already (no Headers object to build).
        headers={k.decode("latin-1"): v.decode("latin-1") for k, v in request.scope["headers"]},
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


async def _full(runtime: Runtime) -> bool:
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
