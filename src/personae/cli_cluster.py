"""The cluster's commands: `personae serve --role web`, `personae worker` and
`personae work parked` (PERSONAE_QUEUE=procrastinate, PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from enum import StrEnum
from typing import Annotated

import typer
import uvicorn
from uvicorn.config import LOGGING_CONFIG

from personae.cli import _fail, _settings, _with_runtime, app, handles_errors
from personae.errors import ConfigError
from personae.observe import configure_logging
from personae.runtime import Runtime
from personae.settings import Settings

work_app = typer.Typer(help="Jobs of the cluster's queue: the parked ones.", no_args_is_help=True)
app.add_typer(work_app, name="work")


class ServeRole(StrEnum):
    web = "web"


def _require_cluster(settings: Settings) -> None:
    if settings.queue != "procrastinate":
        raise ConfigError(
            "this command is for a cluster: set PERSONAE_QUEUE=procrastinate and "
            "PERSONAE_DATABASE_URL=postgresql+asyncpg://user@host/db (one machine, one "
            "process: `personae up`)"
        )


def _logs(settings: Settings) -> None:
    """JSON log lines (PERSONAE_LOG_FORMAT=json) with the running job's ids."""
    if settings.log_format == "json":
        configure_logging(settings)


@app.command()
@handles_errors
def serve(
    role: Annotated[
        ServeRole, typer.Option(help="web: HTTP, webhooks and acknowledgements; no model")
    ] = ServeRole.web,
    host: Annotated[str | None, typer.Option(help="Address [env: PERSONAE_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [env: PERSONAE_PORT]")] = None,
) -> None:
    """A cluster's web node: answers HTTP and webhooks, records work for `personae worker`."""
    from personae.server.app import create_app
    from personae.server.auth import public_without_key

    settings = _settings(host=host, port=port)
    _logs(settings)
    _require_cluster(settings)
    refusal = public_without_key(settings)
    if refusal is not None:
        raise _fail(f"error: {refusal}", 2)
    typer.echo(f"personae web node on {settings.host}:{settings.port} (role {role.value})")
    application = create_app(settings, role="web")
    config = uvicorn.Config(
        application, host=settings.host, port=settings.port,
        log_level=settings.log_level.lower(), access_log=settings.log_level.lower() == "debug",
        log_config=None if settings.log_format == "json" else LOGGING_CONFIG,
    )  # fmt: skip
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        raise ConfigError("the web node could not start; see the messages above")


@app.command()
@handles_errors
def worker(
    engine: Annotated[
        str | None, typer.Option(help="Default engine: llamacpp, openai, scripted")
    ] = None,
) -> None:
    """A cluster's worker: runs turns, deliveries and after-turn work until SIGTERM/Ctrl-C
    (running jobs finish; the rest wait in the queue for the other workers)."""
    settings = _settings(engine=engine)
    _logs(settings)
    _require_cluster(settings)
    asyncio.run(_run_worker(settings))
    typer.echo("worker stopped")


async def _run_worker(settings: Settings) -> None:
    runtime = await Runtime.start(
        settings, progress=lambda line: typer.echo(f"  {line}"), role="worker"
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    typer.echo(f"personae worker running (engine: {settings.engine})")
    try:
        await stop.wait()
    finally:
        await runtime.aclose()


@work_app.command("parked")
@handles_errors
def parked(
    limit: Annotated[int, typer.Option(help="How many, newest first")] = 50,
) -> None:
    """Jobs parked after using up their attempts, with their error. A resend of the message
    (or the platform's redelivery) runs it again."""
    settings = _settings()

    async def show(runtime: Runtime) -> None:
        rows = await runtime.store.parked_jobs(limit)
        if not rows:
            typer.echo("no parked jobs")
            return
        for job, attempts, error, at in rows:
            typer.echo(
                f"{at:%Y-%m-%d %H:%M:%S} job {job.id} {job.kind} conversation "
                f"{job.conversation_id} message {job.message_id} ({attempts} attempts): {error}"
            )

    asyncio.run(_with_runtime(settings, show))
