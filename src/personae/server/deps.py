"""What route handlers share: the server's state and the auth checks, as FastAPI dependencies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from personae.errors import EngineUnavailable, Unauthorized
from personae.runtime import Runtime
from personae.server.auth import (
    BOOTSTRAP_ADMIN,
    MAX_TOKEN_CHARS,
    Guard,
    Principal,
    bearer_token,
)
from personae.settings import Settings
from personae.stores.tokens import PREFIX


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


def _runtime(request: Request) -> Runtime:
    runtime = server_state(request).runtime
    if runtime is None:
        raise _not_ready()
    return runtime


def _guard(request: Request) -> Guard:
    guard = server_state(request).guard
    if guard is None:
        raise _not_ready()
    return guard


# Dependencies are coroutines: FastAPI runs a plain function in a worker thread, a hop per
# request that cost more than the work (and webhooks are acknowledged in milliseconds).
async def get_runtime(request: Request) -> Runtime:
    return _runtime(request)


async def get_guard(request: Request) -> Guard:
    return _guard(request)


async def require_api_key(request: Request) -> None:
    """An API key, the admin token, or a stored admin or creator token (staff endpoints live
    under /api too)."""
    guard = _guard(request)
    try:
        guard.require_api_key(request)
    except Unauthorized:
        if await principal(request) is None:
            raise


# The studio keeps its sign-in token in an HttpOnly cookie; its scripts call /api with this
# header, which a cross-site form cannot send (a custom header needs a CORS preflight, never
# granted here), so the cookie alone never authorizes an /api call.
STUDIO_COOKIE = "personae_studio"
STUDIO_HEADER = "x-personae-studio"


def staff_token(request: Request) -> str | None:
    """The Bearer token, or the studio's cookie on a request from the studio's scripts."""
    token = bearer_token(request)
    if token is None and request.headers.get(STUDIO_HEADER) == "1":
        cookie = request.cookies.get(STUDIO_COOKIE, "")
        token = cookie if 0 < len(cookie) <= MAX_TOKEN_CHARS else None
    return token


async def principal_of(request: Request, token: str | None) -> Principal | None:
    """The admin or creator ``token`` names, or None."""
    if token is None:
        return None
    if _guard(request).is_admin_token(token):
        return BOOTSTRAP_ADMIN
    if not token.startswith(PREFIX):
        return None
    found = await _runtime(request).store.find_token(token)
    if found is None:
        return None
    return Principal(found.role, frozenset(found.personas), found.id)


async def principal(request: Request) -> Principal | None:
    """The admin or creator a request's token names, or None (no token, or not one of those)."""
    guard = _guard(request)
    if guard.is_admin(request):
        return BOOTSTRAP_ADMIN
    token = staff_token(request)
    if token is None or not token.startswith(PREFIX):
        return await principal_of(request, token)
    found = await _runtime(request).store.find_token(token)
    if found is None:
        return None
    return Principal(found.role, frozenset(found.personas), found.id)


async def require_staff(request: Request) -> Principal:
    """An admin or creator token; 401 otherwise (wrong, revoked or missing)."""
    found = await principal(request)
    if found is None:
        what = "is wrong or revoked" if bearer_token(request) else "is missing"
        raise Unauthorized(
            f"{request.method} {request.url.path} needs an admin or creator token, and it "
            f"{what}: send `Authorization: Bearer <token>` with the admin token "
            "($PERSONAE_HOME/admin_token or PERSONAE_ADMIN_TOKEN) or one made by "
            "`personae token create`"
        )
    return found


async def require_admin(request: Request) -> Principal:
    found = await require_staff(request)
    found.require_admin(f"{request.method} {request.url.path}")
    return found


async def v1_caller(request: Request) -> str:
    return _guard(request).caller(request)


async def api_client(request: Request) -> str:
    return _guard(request).require_client(request)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
StaffDep = Annotated[Principal, Depends(require_staff)]
AdminDep = Annotated[Principal, Depends(require_admin)]
MaybeStaffDep = Annotated[Principal | None, Depends(principal)]
GuardDep = Annotated[Guard, Depends(get_guard)]
# The client a request acts for (identity.py): on /v1 `local` when no key is configured; on
# /api's conversation writes always a credential's.
V1CallerDep = Annotated[str, Depends(v1_caller)]
ApiClientDep = Annotated[str, Depends(api_client)]
