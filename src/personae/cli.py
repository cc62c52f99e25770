"""The `personae` command: manage personas, serve the API, chat in the terminal.

Exit codes: 0 ok, 1 any other personae error, 2 a persona or channel connection failed
validation or `up` refused to serve without an API key on a non-loopback address, 3 `eval`
found a regression against its baseline.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import getpass
import json
import socket
import sys
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer
import uvicorn
import yaml
from pydantic import ValidationError
from pydantic_settings import SettingsError
from uvicorn.config import LOGGING_CONFIG

from personae import __version__
from personae.channels.config import ChannelsInvalid
from personae.core.personas import load_persona_file
from personae.engines.endpoints import EndpointsInvalid
from personae.errors import ConfigError, PersonaeError, PersonaInvalid
from personae.observe import settle_process
from personae.settings import Settings
from personae.types import PersonRef, ReplyGuarded, TextDelta, TurnFinished, TurnInput

if TYPE_CHECKING:
    from personae.runtime import Runtime

P = ParamSpec("P")
T = TypeVar("T")

WEB_CHAT_PATH = "/"  # the server serves the web chat page at its root

app = typer.Typer(
    help="AI personas that help people: define one, talk to it anywhere.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
persona_app = typer.Typer(help="List, show, validate and add personas.", no_args_is_help=True)
app.add_typer(persona_app, name="persona")


def main() -> None:
    """Console entry point."""
    app()


# ---------------------------------------------------------------- plumbing


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def handles_errors(func: Callable[P, T]) -> Callable[P, T]:
    """Turn personae errors into a message on stderr and an exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return func(*args, **kwargs)
        except (PersonaInvalid, ChannelsInvalid, EndpointsInvalid) as err:
            raise _fail(str(err), 2) from None
        except PersonaeError as err:
            raise _fail(f"error: {err}", 1) from None

    return wrapper


def _settings(**overrides: Any) -> Settings:
    """Settings from the environment, with the CLI flags that were given on top."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as err:
        lines = [
            f"PERSONAE_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in err.errors(include_url=False)
        ]
        raise ConfigError("invalid settings:\n  " + "\n  ".join(lines)) from None
    except SettingsError as err:  # a JSON-valued variable that is not JSON
        raise ConfigError(
            f"invalid settings: {err}; PERSONAE_API_KEYS takes a JSON object, e.g. "
            """'{"shop": "a-long-random-key"}'"""
        ) from None


async def _with_runtime(
    settings: Settings,
    work: Callable[[Runtime], Coroutine[Any, Any, T]],
    channels: bool = False,
) -> T:
    """Start a cold runtime (store only, samples seeded; channel connections loaded only when
    asked, so a broken one never blocks persona commands), run ``work``, close it."""
    from personae.runtime import Runtime

    runtime = await Runtime.start(settings, warm=False, channels=channels, resume=False)
    try:
        return await work(runtime)
    finally:
        await runtime.aclose()


def _progress_to_stderr(line: str) -> None:
    typer.echo(typer.style(f"  {line}", dim=True), err=True)


# ---------------------------------------------------------------- top-level commands


@app.command()
def version() -> None:
    """Print the installed personae version."""
    typer.echo(f"personae {__version__}")


@app.command()
@handles_errors
def up(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on [env: PERSONAE_HOST]")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [env: PERSONAE_PORT]")] = None,
    engine: Annotated[
        str | None, typer.Option(help="Default engine: llamacpp, openai, scripted")
    ] = None,
    allow_public_without_key: Annotated[
        bool,
        typer.Option(
            help="Listen on a non-loopback address with no API key "
            "[env: PERSONAE_ALLOW_PUBLIC_WITHOUT_KEY]"
        ),
    ] = False,
    channels: Annotated[
        Path | None,
        typer.Option(help="YAML file of channel connections [env: PERSONAE_CHANNELS]"),
    ] = None,
    endpoints: Annotated[
        Path | None,
        typer.Option(
            help="YAML file of models served by OpenAI-compatible endpoints "
            "[env: PERSONAE_ENDPOINTS]"
        ),
    ] = None,
) -> None:
    """Serve the OpenAI-compatible API, the REST API and the web chat. Ctrl-C stops it."""
    from personae.observe import configure_logging
    from personae.server.app import create_app
    from personae.server.auth import ensure_admin_token, public_without_key

    settings = _settings(
        host=host,
        port=port,
        engine=engine,
        allow_public_without_key=True if allow_public_without_key else None,
        channels=channels,
        endpoints=endpoints,
    )
    refusal = public_without_key(settings)
    if refusal is not None:
        raise _fail(f"error: {refusal}", 2)
    _check_engine(settings.engine)  # a typo fails here, not as a traceback from the lifespan
    # A bad connection: exit 2. Any connection: a worker process (PERSONAE_WORKER_PROCESS).
    has_channels = asyncio.run(_with_runtime(settings, _has_channels, channels=True))
    if settings.log_format == "json":
        configure_logging(settings)
    _token, token_file = ensure_admin_token(settings)  # never printed: read it from the file
    typer.echo(f"starting personae {__version__} (engine: {settings.engine})")
    from personae.runtime import up_role

    application = create_app(
        settings,
        progress=lambda line: typer.echo(f"  {line}"),
        role=up_role(settings, has_channels),
    )
    config = uvicorn.Config(
        application,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=settings.log_level.lower() == "debug",
        # JSON lines: uvicorn's loggers go through the root handler configure_logging set.
        log_config=None if settings.log_format == "json" else LOGGING_CONFIG,
    )
    server = _Server(config, lambda: _print_banner(settings, token_file))
    # uvicorn runs the lifespan shutdown (closing the store) before it re-raises Ctrl-C.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:  # uvicorn has logged why (port in use, start-up failed)
        raise ConfigError("personae could not start; see the messages above")
    typer.echo("personae stopped")


async def _has_channels(runtime: Runtime) -> bool:
    return bool(runtime.connections.all())


def _check_engine(name: str) -> None:
    from personae.plugins import engine_factories

    known = engine_factories()
    if name not in known:
        raise ConfigError(
            f"unknown engine {name!r}; installed engines: {', '.join(sorted(known))}. "
            "Pass --engine or set PERSONAE_ENGINE to one of them"
        )


class _Server(uvicorn.Server):
    """uvicorn's server, announcing the URLs once the app has started (model loaded)."""

    def __init__(self, config: uvicorn.Config, banner: Callable[[], None]) -> None:
        super().__init__(config)
        self._banner = banner

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            settle_process()
            self._banner()


def _print_banner(settings: Settings, token_file: Path | None) -> None:
    from personae.server.auth import is_loopback

    shown = "127.0.0.1" if settings.host in {"0.0.0.0", "::", ""} else settings.host
    base = f"http://{f'[{shown}]' if ':' in shown else shown}:{settings.port}"
    where = "the admin token file" if token_file else "PERSONAE_ADMIN_TOKEN"
    lines = [
        f"personae is up at {base}",
        f"  web chat:       {base}{WEB_CHAT_PATH}",
        f"  OpenAI API:     {base}/v1 (models are persona ids)",
        f"  admin token:    `cat {token_file}`"
        if token_file
        else "  admin token:    from PERSONAE_ADMIN_TOKEN",
        f"  (persona changes need `Authorization: Bearer <token>` with {where})",
        "press Ctrl-C to stop",
    ]
    if not settings.client_keys() and not is_loopback(settings.host):
        lines.insert(-1, "  warning: no API key, and reachable beyond this machine (opted in)")
    typer.echo("\n".join(lines))


# ---------------------------------------------------------------- chat


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        return "cli-user"


@app.command()
@handles_errors
def chat(
    slug: Annotated[str, typer.Argument(help="Persona id, e.g. cooking-coach")],
    user: Annotated[
        str | None, typer.Option(help="Your id in this conversation; default: your login name")
    ] = None,
    engine: Annotated[
        str | None, typer.Option(help="Default engine: llamacpp, openai, scripted")
    ] = None,
) -> None:
    """Talk to a persona here. Piped input: one reply line per input line."""
    settings = _settings(engine=engine)
    person = PersonRef(channel="cli", external_id=user or _default_user())
    interactive = sys.stdin.isatty()
    try:
        asyncio.run(_chat(settings, slug, person, interactive))
    except KeyboardInterrupt:
        typer.echo("", err=True)  # leave the terminal on a fresh line


async def _chat(settings: Settings, slug: str, person: PersonRef, interactive: bool) -> None:
    from personae.runtime import Runtime

    runtime = await Runtime.start(
        settings, progress=_progress_to_stderr, warm=False, channels=False, resume=False
    )
    try:
        persona = (await runtime.store.get_persona(slug)).persona
        await runtime.engines.for_model(persona.model)  # load before the first prompt
        if interactive:
            await _interactive(runtime, slug, persona.name, persona.greeting, person)
        else:
            await _piped(runtime, slug, person)
    finally:
        await runtime.aclose()


async def _interactive(
    runtime: Runtime, slug: str, name: str, greeting: str, person: PersonRef
) -> None:
    label = typer.style(f"{name}> ", fg="cyan", bold=True)
    typer.echo(f"{label}{greeting}")
    while (line := await _read_line(typer.style("you> ", fg="green", bold=True))) is not None:
        if not line.strip():
            continue
        typer.echo(label, nl=False)
        try:
            async for event in runtime.turns.run(TurnInput(persona=slug, text=line, person=person)):
                if isinstance(event, TextDelta):
                    typer.echo(event.text, nl=False)
                elif isinstance(event, ReplyGuarded) and event.status == "blocked":
                    # What was shown cannot be unprinted: the guard's notice follows it.
                    typer.echo(f"\n{typer.style(event.text, fg='yellow')}", nl=False)
                elif isinstance(event, TurnFinished):
                    typer.echo("")
        except PersonaInvalid:
            raise
        except PersonaeError as err:  # say what failed and keep the conversation going
            typer.echo("")
            typer.echo(f"error: {err}", err=True)
    typer.echo("")


async def _piped(runtime: Runtime, slug: str, person: PersonRef) -> None:
    while (line := await _read_line(None)) is not None:
        reply = ""
        if line.strip():
            async for event in runtime.turns.run(TurnInput(persona=slug, text=line, person=person)):
                if isinstance(event, TurnFinished):
                    reply = event.text
        # One reply per line, so scripts can pair each answer with its question.
        typer.echo(" ".join(reply.split()))


async def _read_line(prompt: str | None) -> str | None:
    """Read one line of stdin without blocking the event loop; None at end of input.

    A daemon thread per line: Ctrl-C can end the program while it still waits for input.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[str | None] = loop.create_future()

    def deliver(value: str | None) -> None:
        if not done.done():
            done.set_result(value)

    def read() -> None:
        if prompt is not None:
            sys.stdout.write(prompt)
            sys.stdout.flush()
        raw = sys.stdin.readline()
        value = raw.rstrip("\r\n") if raw else None
        with contextlib.suppress(RuntimeError):  # the loop closed while we waited (Ctrl-C)
            loop.call_soon_threadsafe(deliver, value)

    threading.Thread(target=read, name="personae-stdin", daemon=True).start()
    return await done


# ---------------------------------------------------------------- persona commands


@persona_app.command("list")
@handles_errors
def persona_list() -> None:
    """Table of stored personas: id, name, tagline, revision."""
    from rich.console import Console
    from rich.table import Table

    records = asyncio.run(_with_runtime(_settings(), lambda rt: rt.store.list_personas()))
    table = Table("id", "name", "tagline", "revision")
    for record in records:
        p = record.persona
        table.add_row(p.id, p.name, p.tagline, str(record.revision))
    Console().print(table)


@persona_app.command("show")
@handles_errors
def persona_show(
    slug: Annotated[str, typer.Argument(help="Persona id, e.g. cooking-coach")],
) -> None:
    """Print a stored persona as YAML, with its revision."""
    record = asyncio.run(_with_runtime(_settings(), lambda rt: rt.store.get_persona(slug)))
    spec = record.persona.model_dump(mode="json")
    typer.echo(f"# revision: {record.revision}")
    typer.echo(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=100), nl=False)


@persona_app.command("validate")
def persona_validate(
    files: Annotated[list[Path], typer.Argument(help="Persona files (.yaml, .yml, .json)")],
) -> None:
    """Check persona files; prints OK or every problem. Exit code 2 if any is invalid."""
    bad = 0
    for path in files:
        try:
            persona = load_persona_file(path)
        except PersonaInvalid as err:
            bad += 1
            typer.echo(str(err), err=True)
            continue
        typer.echo(f"OK {path} ({persona.id})")
    if bad:
        raise _fail(f"{bad} of {len(files)} file(s) invalid", 2)


@persona_app.command("schema")
def persona_schema() -> None:
    """Print the JSON Schema of persona files (for editors and validators)."""
    from personae.types import Persona

    typer.echo(json.dumps(Persona.model_json_schema(), indent=2, ensure_ascii=False))


@persona_app.command("add")
@handles_errors
def persona_add(
    file: Annotated[Path, typer.Argument(help="Persona file (.yaml, .yml, .json)")],
) -> None:
    """Validate a persona file and store it (a new revision if the id exists); its avatar
    image is copied to $PERSONAE_HOME/avatars, where the server may serve it."""
    from personae.runtime import adopt_avatar, protected_names

    persona = load_persona_file(file)  # validate first: nothing is written on error
    settings = _settings()
    protected_names(settings).check(persona, str(file))
    persona = adopt_avatar(persona, settings)
    record = asyncio.run(_with_runtime(settings, lambda rt: rt.store.put_persona(persona)))
    typer.echo(f"stored {record.persona.id} (revision {record.revision})")


# Registered last: the channel and card commands use the helpers above.
import personae.cli_personas  # noqa: E402  (registers persona import/export)
from personae.cli_channels import channel_app  # noqa: E402
from personae.cli_eval import eval_command  # noqa: E402

app.add_typer(channel_app, name="channel")
from personae.cli_models import model_app  # noqa: E402

app.add_typer(model_app, name="model")

from personae.cli_tokens import token_app  # noqa: E402

app.add_typer(token_app, name="token")

from personae.cli_knowledge import knowledge_app  # noqa: E402

app.add_typer(knowledge_app, name="knowledge")
app.command("eval")(eval_command)
import personae.cli_cluster  # noqa: E402, F401  (registers serve, worker, work parked)
