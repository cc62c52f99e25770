"""Abuse limits on the HTTP surfaces: per IP address and per person, before anything is stored.

Over a limit the request gets 429 with Retry-After and nothing is stored, so sending it again
later loses nothing; a blocked person or address gets 403. The buckets live in the database
(stores/limits.py), so they hold across several web processes.
"""

from __future__ import annotations

import time

from fastapi import Request

from personae.errors import Forbidden, RateLimited
from personae.runtime import Runtime
from personae.server.auth import is_loopback
from personae.stores.limits import buckets_for
from personae.types import PersonRef


def client_ip(request: Request) -> str | None:
    """The peer's address. Behind a reverse proxy on this machine uvicorn takes the client's
    from X-Forwarded-For (it trusts 127.0.0.1 by default; FORWARDED_ALLOW_IPS for others)."""
    return request.client.host if request.client else None


def _remote(ip: str | None) -> str | None:
    """The address to rate-limit: loopback is this machine (the operator, a local tool), not a
    stranger; people on it are still limited each."""
    return None if ip is None or is_loopback(ip) else ip


async def admit(runtime: Runtime, request: Request, person: PersonRef | None) -> None:
    """Raises Forbidden (blocked) or RateLimited (over a limit: retry after a wait)."""
    ip = client_ip(request)
    buckets = buckets_for(runtime.settings, person=person, ip=_remote(ip))
    admission = await runtime.store.admit(buckets, time.time(), person, ip)
    if admission.blocked is not None:
        raise Forbidden(
            f"this {'address' if admission.blocked == 'ip' else 'person'} is blocked from "
            "sending messages here; contact the operator if you think this is a mistake"
        )
    if admission.retry_after > 0:
        raise RateLimited(admission.what, admission.retry_after)
