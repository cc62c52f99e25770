"""What route handlers share: the server's state and the auth checks, as FastAPI dependencies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from personae.errors import EngineUnavailable
from personae.runtime import Runtime
from personae.server.auth import Guard
from personae.settings import Settings


@dataclass
class ServerState:
    """Set on ``app.state.personae``; guard and runtime arrive when the lifespan starts."""

    settings: Settings
    guard: Guard | None = None
    runtime: Runtime | None = None


def server_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.personae
    return state


def _not_ready() -> EngineUnavailable:
    return EngineUnavailable("the server is still starting (loading the store and model)", 5)


# Dependencies are coroutines: FastAPI runs a plain function in a worker thread, a hop per
# request that cost more than the work (and webhooks are acknowledged in milliseconds).
async def get_runtime(request: Request) -> Runtime:
    runtime = server_state(request).runtime
    if runtime is None:
        raise _not_ready()
    return runtime


def _guard(request: Request) -> Guard:
    guard = server_state(request).guard
    if guard is None:
        raise _not_ready()
    return guard


async def get_guard(request: Request) -> Guard:
    return _guard(request)


async def require_api_key(request: Request) -> None:
    _guard(request).require_api_key(request)


async def require_admin(request: Request) -> None:
    _guard(request).require_admin(request)


async def v1_caller(request: Request) -> str:
    return _guard(request).caller(request)


async def api_client(request: Request) -> str:
    return _guard(request).require_client(request)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
GuardDep = Annotated[Guard, Depends(get_guard)]
# The client a request acts for (identity.py): on /v1 `local` when no key is configured; on
# /api's conversation writes always a credential's.
V1CallerDep = Annotated[str, Depends(v1_caller)]
ApiClientDep = Annotated[str, Depends(api_client)]
