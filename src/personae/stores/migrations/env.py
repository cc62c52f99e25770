"""Alembic environment: runs on the store's connection, or on its own for the alembic CLI."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.pool import NullPool

from personae.stores.connect import open_runner
from personae.stores.migrate import check_foreign_keys, sqlite_foreign_keys_off
from personae.stores.tables import VERSION_TABLE, metadata

config = context.config


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from personae.settings import Settings  # the CLI case only: the store passes a connection

    return Settings().resolved_database_url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=True,  # SQLite can only ALTER by copying the table
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_in_transaction(connection: Connection) -> None:
    with sqlite_foreign_keys_off(connection), connection.begin():
        _run(connection)
        check_foreign_keys(connection)


async def _run_own_engine() -> None:
    runner = open_runner(_url(), poolclass=NullPool)
    try:
        await runner.write_alone(_run_in_transaction)
    finally:
        await runner.aclose()


_given = config.attributes.get("connection")
if _given is not None:
    _run(_given)
elif context.is_offline_mode():
    _run_offline()
else:
    asyncio.run(_run_own_engine())
