"""`personae knowledge add|list|remove`: a persona's knowledge base from the command line,
writing the store directly (the server sees a change at its next recall: the persona's
chunk version moves on). Exit codes: 0 ok, 1 an error (unknown persona or document), 2 a
document that cannot be taken (too large, unreadable, unsupported type)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from personae.embed.shared import process_embedder
from personae.errors import KnowledgeInvalid, KnowledgeNotFound, PersonaeError
from personae.knowledge.service import KnowledgeService
from personae.stores.knowledge import KnowledgeStore
from personae.stores.sql import SqlStore

knowledge_app = typer.Typer(
    help="Add, list and remove the documents of a persona's knowledge base.",
    no_args_is_help=True,
)


def _run(work: object) -> object:
    from personae import cli  # the shared helpers (settings, failures)

    async def run() -> object:
        store = await SqlStore.open(cli._settings().resolved_database_url)
        try:
            service = KnowledgeService(KnowledgeStore(store.runner), process_embedder())
            return await work(store, service)  # type: ignore[operator]
        finally:
            await store.aclose()

    try:
        return asyncio.run(run())
    except KnowledgeInvalid as err:
        raise cli._fail(f"error: {err}", 2) from None
    except PersonaeError as err:
        raise cli._fail(f"error: {err}", 1) from None


@knowledge_app.command("add")
def knowledge_add(
    slug: Annotated[str, typer.Argument(help="The persona's id")],
    file: Annotated[Path, typer.Argument(help="A .md, .txt, .html or .pdf document")],
) -> None:
    """Chunk, embed and index a document for the persona."""
    from personae import cli

    limit = cli._settings().knowledge_max_bytes
    try:
        size = file.stat().st_size
        if size > limit:  # refused before it is read
            raise cli._fail(
                f"error: {file} is {size} bytes; at most {limit} (PERSONAE_KNOWLEDGE_MAX_BYTES)", 2
            )
        data = file.read_bytes()
    except OSError as err:
        raise cli._fail(f"error: cannot read {file}: {err.strerror}", 1) from None

    async def work(store: SqlStore, service: KnowledgeService) -> None:
        await store.get_persona(slug)
        doc = await service.add(slug, file.name, data)
        typer.echo(json.dumps({"id": doc.id, "name": doc.name, "chunks": doc.chunks}))

    _run(work)


@knowledge_app.command("list")
def knowledge_list(slug: Annotated[str, typer.Argument(help="The persona's id")]) -> None:
    async def work(store: SqlStore, service: KnowledgeService) -> None:
        await store.get_persona(slug)
        for doc in await service.store.documents(slug):
            shown = {"id": doc.id, "name": doc.name, "media_type": doc.media_type,
                     "size": doc.size, "chunks": doc.chunks}  # fmt: skip
            typer.echo(json.dumps(shown))

    _run(work)


@knowledge_app.command("remove")
def knowledge_remove(
    slug: Annotated[str, typer.Argument(help="The persona's id")],
    document_id: Annotated[int, typer.Argument(help="The id from `list`")],
) -> None:
    async def work(store: SqlStore, service: KnowledgeService) -> None:
        if not await service.store.delete_document(slug, document_id):
            raise KnowledgeNotFound(slug, document_id)
        typer.echo(f"removed document {document_id}")

    _run(work)
