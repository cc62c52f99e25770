"""The channels file: which persona answers on which account, with secrets kept out of it.

Validation collects every problem at once, each with the file, the path inside it and the fix,
like persona files. The environment is passed in (only settings.py reads it), and so are the
persona slugs that exist, so this module stays pure.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from personae.contracts import ChannelSpec
from personae.errors import ConfigError, Problem

_ENV_PREFIX = "env:"
_ONE = "the channel connection"
_OWN_PREFIX = "PERSONAE_"
_META_ID = 'the numeric id from Meta\'s dashboard, quoted in YAML: "106540352242922"'
_PATTERN_HINTS = {
    "phone_number_id": _META_ID,
    "page_id": _META_ID,
    "account_id": _META_ID,
    "name": "1-64 letters, digits, '_' or '-': the bot's name in /webhooks/telegram/{name}",
    "template": "an approved template: `{name: hello_world, language: en_US}` (lowercase name)",
}
# Bounds keep ids fit for URLs and database keys, whichever surface (file, API, CLI) sent them.
MetaId = Annotated[str, Field(pattern=r"^[0-9]{1,64}$")]
BotName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Secret = Annotated[SecretStr, Field(min_length=1, max_length=4096)]


class ConnectionBase(BaseModel):
    """Fields every connection has; subclasses add the account id and secrets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    persona: str = Field(max_length=64)
    # The field webhooks are routed by (phone_number_id, page_id, ...): each kind names its own.
    key_field: ClassVar[str] = ""

    @property
    def key(self) -> str:
        """The account id webhooks are routed by."""
        return str(getattr(self, self.key_field))


class WhatsAppTemplate(BaseModel):
    """An approved message template sent instead of a reply outside the 24-hour window.

    Written ``{name: hello_world, language: en_US}`` or ``"hello_world:en_US"``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9_]{1,512}$")
    language: str = Field(pattern=r"^[A-Za-z]{2,3}(_[A-Za-z0-9]{2,8})?$")

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        # The API and CLI keep fields as text: "name:language", or the mapping as JSON.
        if isinstance(value, str):
            if value.lstrip().startswith("{"):
                return json.loads(value)
            name, _, language = value.partition(":")
            return {"name": name, "language": language}
        return value


class WhatsAppConnection(ConnectionBase):
    phone_number_id: MetaId
    access_token: Secret
    app_secret: Secret
    verify_token: Secret
    template: WhatsAppTemplate | None = None

    key_field: ClassVar[str] = "phone_number_id"


class MessengerConnection(ConnectionBase):
    page_id: MetaId
    page_access_token: Secret
    app_secret: Secret
    verify_token: Secret

    key_field: ClassVar[str] = "page_id"


class InstagramConnection(ConnectionBase):
    account_id: MetaId
    access_token: Secret
    app_secret: Secret
    verify_token: Secret

    key_field: ClassVar[str] = "account_id"


class TelegramConnection(ConnectionBase):
    name: BotName
    bot_token: Secret
    secret_token: Secret | None = None
    mode: Literal["webhook", "polling"] = "webhook"

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> TelegramConnection:
        if self.mode == "webhook" and self.secret_token is None:
            raise ValueError(
                "a webhook bot needs `secret_token: env:NAME` (1-256 of A-Z a-z 0-9 _ -), "
                "or `mode: polling`"
            )
        return self

    key_field: ClassVar[str] = "name"


class ChannelsInvalid(ConfigError):
    """The channels file has mistakes; ``problems`` lists each one, ``source`` names the file."""

    def __init__(
        self, source: str, problems: list[Problem], subject: str = "the channels file"
    ) -> None:
        self.source = source
        self.problems = tuple(problems)
        count = len(problems)
        header = f"{source}: {count} problem{'s' if count != 1 else ''} in {subject}"
        super().__init__("\n".join([header, *(p.render(source) for p in problems)]))


def load_channels_file(
    path: Path,
    environ: Mapping[str, str],
    personas: Collection[str],
    specs: Mapping[str, ChannelSpec],
) -> tuple[Any, ...]:
    """Read, resolve and validate a channels file; raises ChannelsInvalid listing every problem."""
    return tuple(c for c, _ in load_channel_entries(path, environ, personas, specs))


def load_channel_entries(
    path: Path,
    environ: Mapping[str, str],
    personas: Collection[str],
    specs: Mapping[str, ChannelSpec],
) -> tuple[tuple[Any, dict[str, Any]], ...]:
    """load_channels_file, each connection paired with its entry as written."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        hint = "check PERSONAE_CHANNELS (or --channels): it must name a readable YAML file"
        problem = Problem("", f"cannot read the file: {reason}", None, hint)
        raise ChannelsInvalid(source, [problem]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        hint = 'check the indentation (spaces, not tabs) and quote ids such as "1065..."'
        raise ChannelsInvalid(source, [Problem(where, "malformed YAML", None, hint)]) from None
    return parse_channel_entries(data, source, environ, personas, specs)


def parse_channels(
    data: object,
    source: str,
    environ: Mapping[str, str],
    personas: Collection[str],
    specs: Mapping[str, ChannelSpec],
) -> tuple[Any, ...]:
    """Validate parsed YAML into frozen connection objects, in file order."""
    return tuple(c for c, _ in parse_channel_entries(data, source, environ, personas, specs))


def parse_channel_entries(
    data: object,
    source: str,
    environ: Mapping[str, str],
    personas: Collection[str],
    specs: Mapping[str, ChannelSpec],
) -> tuple[tuple[Any, dict[str, Any]], ...]:
    """Like parse_channels, each connection paired with its entry as written (secrets as
    `env:NAME`), so what is shown can say where a secret comes from without showing it."""
    if data is None:
        return ()
    if not isinstance(data, dict):
        hint = "the file maps channel names to lists, e.g. `whatsapp:` then `- persona: ...`"
        raise ChannelsInvalid(source, [Problem("", "top level is not a mapping", None, hint)])
    problems: list[Problem] = []
    found: list[tuple[Any, dict[str, Any]]] = []
    for name, entries in data.items():
        spec = specs.get(str(name))
        if spec is None:
            problems.append(Problem(str(name), "unknown channel", None, _suggest(name, specs)))
        elif not isinstance(entries, list):
            hint = f"write a list: one `- persona: ...` entry per {name} account"
            problems.append(Problem(str(name), "not a list", None, hint))
        else:
            for index, entry in enumerate(entries):
                where = f"{name}.{index}"
                connection = _connection(spec, entry, where, environ, personas, problems)
                if connection is not None:
                    found.append((connection, entry))
    problems += _duplicates([c for c, _ in found])
    if problems:
        raise ChannelsInvalid(source, problems)
    return tuple(found)


def parse_connection(
    kind: str,
    entry: object,
    source: str,
    environ: Mapping[str, str],
    personas: Collection[str],
    specs: Mapping[str, ChannelSpec],
) -> Any:
    """One connection as the API and CLI send it (``kind`` plus the file entry's keys),
    validated exactly like a file entry; raises ChannelsInvalid listing every problem."""
    spec = specs.get(kind)
    if spec is None:
        problem = Problem("kind", "unknown channel", _short(kind), _suggest(kind, specs))
        raise ChannelsInvalid(source, [problem], _ONE)
    problems: list[Problem] = []
    connection = _connection(spec, entry, kind, environ, personas, problems)
    if problems or connection is None:
        raise ChannelsInvalid(source, problems, _ONE)
    return connection


def _connection(
    spec: ChannelSpec,
    entry: object,
    where: str,
    environ: Mapping[str, str],
    personas: Collection[str],
    problems: list[Problem],
) -> Any:
    if not isinstance(entry, dict):
        problems.append(
            Problem(where, "not a mapping", None, "write `persona: <slug>` and the ids")
        )
        return None
    resolved: dict[str, Any] = {}
    unset: set[str] = set()
    for key, value in entry.items():
        if isinstance(value, str) and value.startswith(_ENV_PREFIX):
            var = value[len(_ENV_PREFIX) :]
            if var.upper().startswith(_OWN_PREFIX):
                # The server's own settings (admin token, API keys) are never channel secrets.
                hint = "give the channel's secret an environment variable of its own"
                problems.append(
                    Problem(f"{where}.{key}", f"{_short(var)} is a personae setting", None, hint)
                )
                unset.add(str(key))
                continue
            if var not in environ:
                var = var[:64]
                hint = f"set the environment variable {var}, or write the value itself"
                problems.append(Problem(f"{where}.{key}", f"{var} is not set", _short(value), hint))
                unset.add(str(key))
                continue
            value = environ[var]
        resolved[str(key)] = value
    persona = resolved.get("persona")
    known = not isinstance(persona, str) or persona in personas
    if not known:
        hint = _suggest(persona, personas, "add the persona first, or use one of")
        problems.append(Problem(f"{where}.persona", "no such persona", _short(persona), hint))
    model: type[ConnectionBase] = spec.connection_model
    try:
        connection = model.model_validate(resolved)
    except ValidationError as err:
        for error in err.errors(include_url=False):
            if not (error["loc"] and error["loc"][0] in unset):  # reported above
                problems.append(_problem(model, where, dict(error)))
        return None
    return connection if known else None


def _problem(model: type[BaseModel], where: str, error: dict[str, Any]) -> Problem:
    field = str(error["loc"][0]) if error["loc"] else ""
    location = f"{where}.{field}" if field else where
    if error["type"] == "extra_forbidden":
        return Problem(
            location, f"unknown key {_short(field)}", None, _suggest(field, model.model_fields)
        )
    if error["type"] == "missing":
        example = f"env:{field.upper()}" if field in secret_fields(model) else "..."
        return Problem(location, "required key is missing", None, f"add `{field}: {example}`")
    if error["type"] == "string_pattern_mismatch":
        hint = _PATTERN_HINTS.get(field, "see the README's Channels section")
        return Problem(location, "not a valid id", _short(error.get("input")), hint)
    # A secret is never echoed back, not even a wrong one; other values are shortened.
    shown = None if field in secret_fields(model) else _short(error.get("input"))
    return Problem(location, str(error["msg"]), shown, None)


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def secret_fields(model: type[BaseModel]) -> frozenset[str]:
    """The fields holding secrets: never shown, only masked."""
    return frozenset(
        name for name, info in model.model_fields.items() if _holds_secret(info.annotation)
    )


def _holds_secret(annotation: Any) -> bool:
    return annotation is SecretStr or any(_holds_secret(a) for a in get_args(annotation))


def _duplicates(connections: list[Any]) -> list[Problem]:
    seen: set[tuple[str, str]] = set()
    problems = []
    for connection in connections:
        ident = (type(connection).__name__, connection.key)
        if ident in seen:
            hint = "each account may be connected once; remove the second entry"
            problems.append(Problem("", "account listed twice", repr(connection.key), hint))
        seen.add(ident)
    return problems


def _suggest(word: object, valid: Collection[str], lead: str = "valid here:") -> str:
    close = difflib.get_close_matches(str(word), list(valid), n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"{lead} {', '.join(sorted(valid))}" if valid else "remove it"
