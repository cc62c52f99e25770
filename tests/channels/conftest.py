"""Channel tests talk to real HTTP servers on loopback: the platform server (Graph API and
Bot API) the adapters send to, and a small Starlette app serving the webhook handlers."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from personae.contracts import WebhookHandler, WebhookRequest, WebhookResult

from .platform import GRAPH_VERSION, PlatformServer


@pytest.fixture
async def platform() -> AsyncIterator[PlatformServer]:
    state = PlatformServer()
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        yield state


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # Generous: a loaded machine answers loopback slowly (a platform that never answers is
    # tested with its own short timeout, test_contract's "hang").
    async with httpx.AsyncClient(timeout=10.0) as client:
        yield client


class WebhookApp:
    """Mounts handlers at /webhooks/{channel}[/{route}] the way the server will; records what
    each request produced, so tests see the events behind an HTTP answer."""

    def __init__(self) -> None:
        self.handlers: dict[str, WebhookHandler] = {}
        self.results: list[WebhookResult] = []
        routes = [
            Route("/webhooks/{channel}", self.serve, methods=["GET", "POST", "PUT"]),
            Route("/webhooks/{channel}/{route}", self.serve, methods=["GET", "POST", "PUT"]),
        ]
        self.app = Starlette(routes=routes)

    async def serve(self, request: Request) -> Response:
        handler = self.handlers.get(request.path_params["channel"])
        if handler is None:
            return PlainTextResponse("no such channel", status_code=404)
        result = await handler.handle(
            WebhookRequest(
                method=request.method,
                query=dict(request.query_params),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=await request.body(),
                route=request.path_params.get("route", ""),
            )
        )
        self.results.append(result)
        return PlainTextResponse(result.body, status_code=result.status)


@pytest.fixture(scope="session")
def webhook_app() -> Iterator[tuple[WebhookApp, str]]:
    state = WebhookApp()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(state.app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the webhook test server did not start")
        time.sleep(0.02)
    yield state, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)


__all__ = ["GRAPH_VERSION"]
