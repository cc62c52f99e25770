"""`personae persona import|export`: Character Cards (V1/V2/V3 JSON, PNG, CHARX) in and out."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from personae.cli import _settings, _with_runtime, handles_errors, persona_app
from personae.core.charx import MAX_ARCHIVE_BYTES
from personae.errors import CardInvalid
from personae.types import CardFormat

SUFFIXES = {"v2": ".json", "v3": ".json", "charx": ".charx"}


@persona_app.command("import")
@handles_errors
def persona_import(
    file: Annotated[Path, typer.Argument(help="Card file: .json, .png or .charx")],
    slug: Annotated[
        str | None, typer.Option("--id", help="Persona id (default: from the card's name)")
    ] = None,
) -> None:
    """Store a Character Card (V1, V2 or V3; JSON, PNG or CHARX) as a persona, with its
    lorebook and greetings (a new revision if the id exists)."""
    try:
        size = file.stat().st_size
        if size > MAX_ARCHIVE_BYTES:
            raise CardInvalid(f"{file} is {size} bytes; a card file may be {MAX_ARCHIVE_BYTES}")
        data = file.read_bytes()
    except OSError as err:
        raise CardInvalid(f"cannot read {file}: {err.strerror}") from None
    record, card = asyncio.run(_with_runtime(_settings(), lambda rt: rt.import_card(data, slug)))
    lore = record.persona.lorebook
    entries = len(lore.entries) if lore else 0
    for warning in card.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(
        f"stored {record.persona.id} (revision {record.revision}) from a {card.spec} "
        f"{card.container} card; lorebook: {entries} entries"
    )


@persona_app.command("export")
@handles_errors
def persona_export(
    slug: Annotated[str, typer.Argument(help="Persona id")],
    fmt: Annotated[str, typer.Option("--format", help="v2, v3 or charx")] = "v3",
    png: Annotated[bool, typer.Option("--png", help="A PNG with chara and ccv3 chunks")] = False,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="File to write (default: stdout)")
    ] = None,
) -> None:
    """Write a persona as a Character Card; a card it was imported from comes back with
    every field it had (changed fields updated)."""
    if fmt not in SUFFIXES:
        raise CardInvalid(f"unknown format {fmt!r}; use v2, v3 or charx")
    if png and fmt == "charx":
        raise CardInvalid("--png is for v2/v3 cards; a CHARX is a zip of its own")
    chosen: CardFormat = fmt  # type: ignore[assignment]
    data = asyncio.run(_with_runtime(_settings(), lambda rt: rt.export_card(slug, chosen, png)))
    if output is None:
        if sys.stdout.isatty() and (png or fmt == "charx"):
            raise CardInvalid("this card is binary; give -o FILE")
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    output.write_bytes(data)
    typer.echo(f"wrote {output} ({len(data)} bytes)", err=True)
