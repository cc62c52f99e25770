"""Access tokens for the admin and creator endpoints: stored as sha256 digests only.

A token is 32 random bytes (urlsafe), so a plain sha256 is enough: nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Row, insert, select, update

from personae.errors import NotFound
from personae.stores.runner import atomic
from personae.stores.tables import access_tokens, utcnow

ROLES = ("admin", "creator")
PREFIX = "pt_"  # tells a personae token apart from an API key in a log or a leak scan


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A token's record: never the token itself."""

    id: str
    name: str
    role: str
    personas: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None = None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def _record(row: Row[tuple[object, ...]]) -> AccessToken:
    m = row._mapping
    return AccessToken(
        m["id"], m["name"], m["role"], tuple(json.loads(m["personas"])), m["created_at"],
        m["revoked_at"],
    )  # fmt: skip


def create_token(
    conn: Connection, name: str, role: str, personas: tuple[str, ...], token: str
) -> AccessToken:
    """Store ``token``'s digest; the caller shows the token once and forgets it."""
    values = {
        "id": uuid.uuid4().hex, "name": name, "role": role,
        "personas": json.dumps(sorted(set(personas))), "token_sha256": digest(token),
        "created_at": utcnow(), "revoked_at": None,
    }  # fmt: skip
    with atomic(conn):
        conn.execute(insert(access_tokens).values(**values))
        row = conn.execute(select(access_tokens).where(access_tokens.c.id == values["id"])).one()
    return _record(row)


def list_tokens(conn: Connection) -> list[AccessToken]:
    rows = conn.execute(select(access_tokens).order_by(access_tokens.c.created_at)).all()
    return [_record(r) for r in rows]


def revoke_token(conn: Connection, token_id: str) -> AccessToken:
    with atomic(conn):
        conn.execute(
            update(access_tokens)
            .where(access_tokens.c.id == token_id, access_tokens.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        row = conn.execute(select(access_tokens).where(access_tokens.c.id == token_id)).first()
    if row is None:
        raise NotFound(f"no token with id {token_id!r}; `personae token list` shows the ids")
    return _record(row)


def find_token(conn: Connection, token: str) -> AccessToken | None:
    """The live token whose digest matches; looked up by digest, so the time taken does not
    depend on how much of a guess is right."""
    row = conn.execute(
        select(access_tokens).where(
            access_tokens.c.token_sha256 == digest(token), access_tokens.c.revoked_at.is_(None)
        )
    ).first()
    return None if row is None else _record(row)
