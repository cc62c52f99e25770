"""`personae model pull|list|rm`: GGUF models from the Hugging Face hub, in the models folder.

A pulled model is named by its file name without .gguf; a persona's `model.name` or
PERSONAE_MODEL (with the llamacpp engine) may name it. Exit codes: 0 ok, 1 an error (the hub,
the network, the disk, an unknown name), 2 invalid input.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from personae.engines.models import BadModelSpec, ModelStore
from personae.errors import PersonaeError

P = ParamSpec("P")
T = TypeVar("T")

model_app = typer.Typer(
    help="Pull GGUF models from the Hugging Face hub, list and remove them.",
    no_args_is_help=True,
)


def _cli() -> Any:
    from personae import cli  # the shared helpers (settings, failures)

    return cli


def _handles_errors(func: Callable[P, T]) -> Callable[P, T]:
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return func(*args, **kwargs)
        except BadModelSpec as err:
            raise _cli()._fail(f"error: {err}", 2) from None
        except PersonaeError as err:
            raise _cli()._fail(f"error: {err}", 1) from None

    return wrapper


def _store() -> ModelStore:
    return ModelStore(_cli()._settings().resolved_models_dir)


@model_app.command("pull")
@_handles_errors
def pull_model(
    spec: Annotated[
        str, typer.Argument(help="REPO/FILE.gguf, e.g. bartowski/X-GGUF/X-Q4_K_M.gguf")
    ],
    revision: Annotated[str, typer.Option(help="Branch, tag or commit of the repository")] = "main",
) -> None:
    """Download a GGUF file (resumable, checksum-verified); HF_ENDPOINT picks a mirror."""
    from personae.engines.hub import pull

    store = _store()
    model = pull(store, spec, revision=revision)
    typer.echo(f"pulled {model.name} ({_size(model.size)}, sha256 {model.sha256[:12]}…)")
    typer.echo(f"  {model.path}")
    typer.echo(
        f"use it: PERSONAE_MODEL={model.name} personae up   "
        f"(or `model: {{engine: llamacpp, name: {model.name}}}` in a persona)"
    )


@model_app.command("list")
@_handles_errors
def list_models() -> None:
    """The pulled models: name, size, sha256 and path."""
    models = _store().list()
    if not models:
        typer.echo("no models pulled yet; `personae model pull REPO/FILE.gguf` fetches one")
        return
    width = max(len(m.name) for m in models)
    for m in models:
        typer.echo(f"{m.name:<{width}}  {_size(m.size):>9}  {m.sha256[:12]}  {m.path}")


@model_app.command("rm")
@_handles_errors
def remove_model(
    name: Annotated[str, typer.Argument(help="A name `personae model list` shows")],
) -> None:
    """Delete a pulled model's file."""
    model = _store().remove(name)
    typer.echo(f"removed {model.name} ({model.path})")


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
