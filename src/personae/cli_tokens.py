"""`personae token create|list|revoke`: admin and creator tokens for the HTTP API.

A token is shown once, at creation; the store keeps only its sha256. A creator token reaches
the personas named with --persona (and their conversations and channels), nothing else.
Exit codes: 0 ok, 1 an error (unknown id), 2 invalid input.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer

from personae.errors import PersonaeError
from personae.stores.sql import SqlStore
from personae.stores.tokens import ROLES, AccessToken, new_token

T = TypeVar("T")

token_app = typer.Typer(
    help="Create, list and revoke admin and creator tokens (stored hashed).",
    no_args_is_help=True,
)


def _with_store(work: Callable[[SqlStore], Awaitable[T]]) -> T:
    from personae import cli  # the shared helpers (settings, failures)

    async def run() -> T:
        store = await SqlStore.open(cli._settings().resolved_database_url)
        try:
            return await work(store)
        finally:
            await store.aclose()

    try:
        return asyncio.run(run())
    except PersonaeError as err:
        raise cli._fail(f"error: {err}", 1) from None


def _shown(token: AccessToken) -> dict[str, Any]:
    return {
        "id": token.id, "name": token.name, "role": token.role,
        "personas": list(token.personas), "created_at": token.created_at.isoformat(),
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }  # fmt: skip


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="admin or creator")],
    persona: Annotated[
        list[str] | None, typer.Option(help="A persona a creator may manage (repeatable)")
    ] = None,
    name: Annotated[str, typer.Option(help="Who or what holds it (shown in `list`)")] = "",
) -> None:
    """Create a token and print it once: it cannot be shown again."""
    from personae import cli

    personas = tuple(persona or ())
    if role not in ROLES:
        raise cli._fail(f"error: --role must be one of {', '.join(ROLES)}, not {role!r}", 2)
    if role == "creator" and not personas:
        raise cli._fail("error: a creator token needs at least one --persona SLUG", 2)
    if role == "admin" and personas:
        raise cli._fail("error: an admin token reaches every persona; drop --persona", 2)
    if len(name) > 64:
        raise cli._fail("error: --name is at most 64 characters", 2)
    token = new_token()
    record = _with_store(lambda s: s.create_token(name or role, role, personas, token))
    typer.echo(f"created {record.role} token {record.id} ({record.name})", err=True)
    typer.echo("store it now: it is shown only this once", err=True)
    typer.echo(token)


@token_app.command("list")
def token_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Every token's id, name, role, personas and state (never the token)."""
    tokens = _with_store(lambda s: s.list_tokens())
    if as_json:
        typer.echo(json.dumps([_shown(t) for t in tokens], indent=2))
        return
    for t in tokens:
        state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "active"
        scope = ",".join(t.personas) or "*"
        typer.echo(f"{t.id}  {t.role:<7} {scope:<24} {state:<24} {t.name}")


@token_app.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(help="The id from `list`")]) -> None:
    """Revoke a token: every request carrying it is refused from now on."""
    record = _with_store(lambda s: s.revoke_token(token_id))
    typer.echo(f"revoked {record.role} token {record.id} ({record.name})")
