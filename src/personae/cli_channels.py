"""`personae channel list|add|remove|test`: channel connections, against the store directly.

Validation and messages are the channels file's (channels/config.py). Secrets are never printed:
`env:NAME` references are shown as written, literal values masked. Exit codes: 0 ok, 1 an error
(unknown connection, a failed check), 2 invalid input.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import httpx
import typer
import yaml

from personae.channels.config import ChannelsInvalid
from personae.channels.registry import ConnectionConflict, ConnectionEntry
from personae.errors import PersonaeError

if TYPE_CHECKING:
    from personae.runtime import Runtime

P = ParamSpec("P")
T = TypeVar("T")
CHECK_TIMEOUT_S = 10.0
_ONE = "the channel connection"

channel_app = typer.Typer(
    help="List, add, remove and test channel connections (WhatsApp, Messenger, Instagram, "
    "Telegram).",
    no_args_is_help=True,
)


def _cli() -> Any:
    from personae import cli  # the shared helpers (settings, runtime, failures)

    return cli


def _handles_errors(func: Callable[P, T]) -> Callable[P, T]:
    """Invalid input exits 2 with every problem; other personae errors exit 1."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return func(*args, **kwargs)
        except ChannelsInvalid as err:
            raise _cli()._fail(str(err), 2) from None
        except ConnectionConflict as err:
            raise _cli()._fail(f"error: {err}", 2) from None
        except PersonaeError as err:
            raise _cli()._fail(f"error: {err}", 1) from None

    return wrapper


def _run(work: Callable[[Runtime], Any]) -> Any:
    cli = _cli()
    return asyncio.run(cli._with_runtime(cli._settings(), work, channels=True))


def _describe(entry: ConnectionEntry) -> str:
    shown = entry.public()
    fields = " ".join(f"{k}={v}" for k, v in shown["fields"].items())
    return f"{entry.kind} {entry.key} -> {shown['persona']} ({entry.source}) {fields}"


@channel_app.command("list")
@_handles_errors
def channel_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Every connection, from the channels file and the store, secrets masked."""

    async def work(rt: Runtime) -> list[ConnectionEntry]:
        return list(rt.connections.all())

    entries: list[ConnectionEntry] = _run(work)
    if as_json:
        typer.echo(json.dumps({"channels": [e.public() for e in entries]}, ensure_ascii=False))
        return
    if not entries:
        typer.echo("no channel connections; add one with `personae channel add`")
    for entry in entries:
        typer.echo(_describe(entry))


def _snippet(source: str) -> dict[str, Any]:
    """A YAML or JSON mapping from a file, or stdin for `-`."""
    name = "stdin" if source == "-" else source
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as err:
        raise ChannelsInvalid(name, [_problem("", f"cannot read it: {err}")], _ONE) from None
    except yaml.YAMLError:
        raise ChannelsInvalid(name, [_problem("", "malformed YAML or JSON")], _ONE) from None
    if not isinstance(data, dict):
        raise ChannelsInvalid(name, [_problem("", "not a mapping of connection keys")], _ONE)
    return {str(k): v for k, v in data.items()}


def _problem(location: str, message: str) -> Any:
    from personae.errors import Problem

    hint = "write one connection, e.g. `kind: telegram` `persona: <slug>` `name: <bot>` ..."
    return Problem(location, message, None, hint)


def _pairs(values: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            hint = "write --set KEY=VALUE, e.g. --set access_token=env:WA_TOKEN"
            raise ChannelsInvalid("--set", [_problem(item[:80], f"not KEY=VALUE; {hint}")], _ONE)
        found[key.strip()] = value
    return found


@channel_app.command("add")
@_handles_errors
def channel_add(
    kind: Annotated[
        str | None, typer.Argument(help="whatsapp, messenger, instagram or telegram")
    ] = None,
    persona: Annotated[str | None, typer.Option(help="Persona id that answers")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="A field as KEY=VALUE (repeatable); secrets best as env:NAME"),
    ] = None,
    from_: Annotated[
        str | None,
        typer.Option("--from", help="A YAML/JSON file with the connection (`-`: stdin)"),
    ] = None,
) -> None:
    """Validate a connection like the channels file does and store it."""
    fields: dict[str, Any] = _snippet(from_) if from_ else {}
    fields.update(_pairs(set_ or []))
    if persona is not None:
        fields["persona"] = persona
    chosen = kind or fields.get("kind")
    fields.pop("kind", None)
    source = from_ if from_ and from_ != "-" else "command line"
    if not isinstance(chosen, str):
        raise ChannelsInvalid(source, [_problem("kind", "no channel kind given")], _ONE)

    async def work(rt: Runtime) -> ConnectionEntry:
        return await rt.connections.add(chosen, fields, source)

    entry: ConnectionEntry = _run(work)
    typer.echo(f"connected {_describe(entry)}")


@channel_app.command("remove")
@_handles_errors
def channel_remove(
    kind: Annotated[str, typer.Argument(help="Channel kind")],
    key: Annotated[str, typer.Argument(help="Account: phone_number_id, page_id, ... or bot")],
) -> None:
    """Forget a stored connection (one from the channels file is edited out of the file)."""

    async def work(rt: Runtime) -> str:
        try:
            await rt.connections.load()
        except ChannelsInvalid:
            # A stored connection that no longer loads (an unset variable, a deleted persona)
            # must still be removable: that is how the operator repairs it.
            if await rt.store.remove_connection(kind, key):
                return f"removed {kind} {key}"
            raise
        entry = await rt.connections.remove(kind, key)
        return f"removed {entry.kind} {entry.key}"

    cli = _cli()
    typer.echo(asyncio.run(cli._with_runtime(cli._settings(), work, channels=False)))


@channel_app.command("test")
@_handles_errors
def channel_test(
    kind: Annotated[str, typer.Argument(help="Channel kind")],
    key: Annotated[str, typer.Argument(help="Account: phone_number_id, page_id, ... or bot")],
) -> None:
    """Check the connection's credentials with one cheap call to the platform."""
    cli = _cli()
    settings = cli._settings()

    async def work(rt: Runtime) -> Any:
        async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_S) as http:
            return await rt.connections.check(kind, key, settings, http)

    result = _run(work)
    account = " ".join(f"{k}={v}" for k, v in result.account.items())
    if result.outcome != "ok":
        raise cli._fail(f"failed ({result.outcome}) {kind} {key}: {result.code}: {result.error}", 1)
    typer.echo(f"ok {kind} {key} {account}".rstrip())
