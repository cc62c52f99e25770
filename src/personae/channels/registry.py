"""The connections a server answers for: the channels file's (read-only) and stored ones.

One registry per runtime. Webhook routes ask it which connection an account id belongs to
(``find``); the admin API and CLI list, add, remove and check connections through it. Every
connection, whichever surface it came from, is validated by the same models and messages
(config.py). Secrets are kept as written (``env:NAME`` or a literal) and never shown: ``public``
masks them.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx

from personae.channels.config import (
    ChannelsInvalid,
    load_channel_entries,
    parse_connection,
    secret_fields,
)
from personae.contracts import AccountCheck, ChannelSpec
from personae.errors import BadRequest, NotFound, Problem
from personae.settings import Settings
from personae.types import ConnectionRecord, SendResult

Source = Literal["file", "stored"]
_ENV_PREFIX = "env:"
_MASK = "••••"


class ConnectionStore(Protocol):
    async def list_connections(self) -> list[ConnectionRecord]: ...
    async def add_connection(self, record: ConnectionRecord) -> bool: ...
    async def remove_connection(self, kind: str, key: str) -> bool: ...


class ConnectionNotFound(NotFound):
    """No connection of that kind has that key (or no channel has that kind)."""


class ConnectionConflict(BadRequest):
    """The change cannot be made as asked: the message says what to do instead."""

    param = "key"


@dataclass(frozen=True, slots=True)
class ConnectionEntry:
    """One connection: the validated model (secrets resolved), where it came from, and its
    fields as written, so it can be shown with each secret masked."""

    kind: str
    connection: Any
    source: Source
    given: Mapping[str, str]

    @property
    def key(self) -> str:
        return str(self.connection.key)

    def public(self) -> dict[str, Any]:
        """What any output may show: ids and settings as given, secrets masked."""
        hidden = secret_fields(type(self.connection))
        fields = {
            name: mask(value) if name in hidden else value
            for name, value in self.given.items()
            if name != "persona"
        }
        return {
            "kind": self.kind,
            "key": self.key,
            "persona": self.connection.persona,
            "source": self.source,
            "fields": fields,
        }


def mask(secret: str) -> str:
    """`env:NAME` says where the secret lives and stays; a literal shows at most its end."""
    if secret.startswith(_ENV_PREFIX):
        return secret
    return _MASK + secret[-4:] if len(secret) >= 16 else _MASK


class Connections:
    """The runtime's registry. ``load`` reads the file and the store; it raises
    ChannelsInvalid with every problem, so a server never starts half-connected."""

    def __init__(
        self,
        store: ConnectionStore,
        personas: Callable[[], Awaitable[Collection[str]]],
        environ: Mapping[str, str],
        specs: Mapping[str, ChannelSpec],
        file: Path | None = None,
    ) -> None:
        self._store = store
        self._personas = personas
        self._environ = environ
        self.specs = dict(specs)
        self.file = file
        self._entries: dict[tuple[str, str], ConnectionEntry] = {}
        # Bumped by every change: whoever builds webhook handlers over ``of_kind`` rebuilds
        # them when it moves.
        self.revision = 0

    def find(self, kind: str, key: str) -> Any | None:
        """The connection of ``kind`` with account ``key``, or None: what webhooks route by."""
        entry = self._entries.get((kind, key))
        return entry.connection if entry is not None else None

    def all(self) -> tuple[ConnectionEntry, ...]:
        return tuple(self._entries[k] for k in sorted(self._entries))

    def of_kind(self, kind: str) -> tuple[Any, ...]:
        """Every connection of one channel kind, for its webhook handler."""
        return tuple(e.connection for e in self.all() if e.kind == kind)

    def entry(self, kind: str, key: str) -> ConnectionEntry:
        """The entry, or ConnectionNotFound naming the closest kind or key."""
        found = self._entries.get((kind, key))
        if found is not None:
            return found
        if kind not in self.specs:
            raise ConnectionNotFound(f"no channel {_short(kind)}; {_hint(kind, self.specs)}")
        keys = [k for (c, k) in self._entries if c == kind]
        raise ConnectionNotFound(
            f"no {kind} connection {_short(key)}; {_hint(key, keys)} "
            "(list them with GET /api/channels or `personae channel list`)"
        )

    async def load(self) -> None:
        """Read the channels file and the stored connections, replacing what was loaded."""
        names = await self._personas()
        entries: dict[tuple[str, str], ConnectionEntry] = {}
        if self.file is not None:
            pairs = load_channel_entries(self.file, self._environ, names, self.specs)
            for connection, given in pairs:
                entry = _entry(self._kind_of(connection), connection, "file", given)
                entries[(entry.kind, entry.key)] = entry
        problems: list[Problem] = []
        for record in await self._store.list_connections():
            try:
                entry = self._stored(record, names)
            except ChannelsInvalid as err:
                problems += [_stored_problem(record, p) for p in err.problems]
                continue
            if (entry.kind, entry.key) in entries:
                problems.append(_stored_problem(record, _shadowed(self.file)))
            entries[(entry.kind, entry.key)] = entry
        if problems:
            raise ChannelsInvalid("the store", problems, "its channel connections")
        self._entries = entries
        self.revision += 1

    def _stored(self, record: ConnectionRecord, names: Collection[str]) -> ConnectionEntry:
        given = {"persona": record.persona, **dict(record.fields)}
        source = f"stored connection {record.kind} {record.key}"
        connection = parse_connection(record.kind, given, source, self._environ, names, self.specs)
        return _entry(record.kind, connection, "stored", given)

    def _kind_of(self, connection: Any) -> str:
        return next(
            name
            for name, spec in self.specs.items()
            if isinstance(connection, spec.connection_model)
        )

    async def add(self, kind: str, fields: object, source: str = "request body") -> ConnectionEntry:
        """Validate like a file entry and store it; ChannelsInvalid lists every problem."""
        names = await self._personas()
        connection = parse_connection(kind, fields, source, self._environ, names, self.specs)
        assert isinstance(fields, dict)  # parse_connection refuses anything else
        entry = _entry(kind, connection, "stored", fields)
        ident = (entry.kind, entry.key)
        if ident in self._entries and self._entries[ident].source == "file":
            raise ConnectionConflict(
                f"{kind} {entry.key} is declared in the channels file {self.file}; edit that "
                "file to change it"
            )
        record = ConnectionRecord(
            entry.kind, entry.key, connection.persona,
            tuple((k, v) for k, v in entry.given.items() if k != "persona"),
            datetime.now(UTC),
        )  # fmt: skip
        if ident in self._entries or not await self._store.add_connection(record):
            raise ConnectionConflict(
                f"{kind} {entry.key} is already connected; remove it first "
                f"(DELETE /api/channels/{kind}/{entry.key} or `personae channel remove "
                f"{kind} {entry.key}`)"
            )
        self._entries[ident] = entry
        self.revision += 1
        return entry

    async def remove(self, kind: str, key: str) -> ConnectionEntry:
        """Forget a stored connection; a file's one must be edited out of the file."""
        entry = self.entry(kind, key)
        if entry.source == "file":
            raise ConnectionConflict(
                f"{kind} {key} is declared in the channels file {self.file}; remove it from "
                "that file and restart the server"
            )
        await self._store.remove_connection(kind, key)
        self._entries.pop((kind, key), None)
        self.revision += 1
        return entry

    async def check(
        self, kind: str, key: str, settings: Settings, http: httpx.AsyncClient
    ) -> AccountCheck:
        """Try the connection's credentials with one cheap authenticated call."""
        entry = self.entry(kind, key)
        check = self.specs[kind].check
        if check is None:
            return AccountCheck("permanent", code="unsupported", error=f"{kind} has no check")
        return await check(entry.connection, settings, http)

    async def send_test(
        self, kind: str, key: str, to: str, text: str, settings: Settings, http: httpx.AsyncClient
    ) -> SendResult:
        """Send one real message through the connection's own sender (Channel.send)."""
        entry = self.entry(kind, key)
        channel = self.specs[kind].channel(entry.connection, settings, http)
        return await channel.send(to, text)


def _entry(kind: str, connection: Any, source: Source, given: Mapping[Any, Any]) -> ConnectionEntry:
    # A nested value (a WhatsApp template) is kept as JSON text, which the model reads back.
    fields = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in given.items()}
    return ConnectionEntry(kind, connection, source, fields)


def _stored_problem(record: ConnectionRecord, problem: Problem) -> Problem:
    remove = f"`personae channel remove {record.kind} {record.key}`"
    hint = f"{problem.hint}; or remove it: {remove}" if problem.hint else f"or remove it: {remove}"
    where = f"{record.kind} {record.key}: {problem.location}".rstrip(": ")
    return Problem(where, problem.message, problem.value, hint)


def _shadowed(file: Path | None) -> Problem:
    return Problem("", f"also declared in the channels file {file}", None, "keep one of the two")


def _short(value: str, limit: int = 64) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _hint(word: str, valid: Collection[str]) -> str:
    close = difflib.get_close_matches(word[:200], list(valid), n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"known: {', '.join(sorted(valid))}" if valid else "none is connected"
