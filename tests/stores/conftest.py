"""Every store test runs on SQLite and on PostgreSQL.

PostgreSQL cases need PERSONAE_TEST_POSTGRES_URL (a server where the user may create
databases); each test session works in its own throwaway database, dropped at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from personae.stores.sql import SqlStore

POSTGRES_ENV = "PERSONAE_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def postgres_base_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(
            f"PostgreSQL case skipped: set {POSTGRES_ENV}="
            "postgresql+asyncpg://postgres@127.0.0.1:5432/test to run it"
        )
    return url


@asynccontextmanager
async def fresh_postgres_database() -> AsyncIterator[str]:
    """A new, empty database on the test server, dropped afterwards (even if still in use)."""
    base = make_url(postgres_base_url())
    name = f"personae_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "postgresql":
        postgres_base_url()  # skips, saying how to enable, when no server is configured
    return name


@asynccontextmanager
async def _empty_database(backend: str, folder: Path) -> AsyncIterator[str]:
    if backend == "sqlite":
        # A folder that does not exist yet: opening the store must create it.
        yield f"sqlite+aiosqlite:///{folder / 'nested' / 'personae.db'}"
        return
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
async def database_url(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """One database per backend and session; tests keep apart by using unique slugs."""
    async with _empty_database(backend, tmp_path_factory.mktemp("store")) as url:
        yield url


@pytest.fixture
async def empty_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A database of this test's own that no store has touched yet."""
    async with _empty_database(backend, tmp_path) as url:
        yield url


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    opened = await SqlStore.open(database_url)
    try:
        yield opened
    finally:
        await opened.aclose()
