"""Build the async engine for a database URL; SQLite gets WAL and sane pragmas per connection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from personae.errors import ConfigError

# Writers wait this long for the SQLite write lock before failing with "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 10_000

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
)


def make_engine(url: str, **options: Any) -> AsyncEngine:
    """An async engine for ``url``; raises ConfigError for a URL SQLAlchemy cannot use."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"database URL {url!r} is not a valid SQLAlchemy URL ({exc}); "
            "set PERSONAE_DATABASE_URL "
            "to e.g. sqlite+aiosqlite:///path/personae.db or postgresql+asyncpg://user@host/db"
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        _ensure_parent_dir(parsed.database)
    try:
        engine = create_async_engine(parsed, **options)
    except Exception as exc:  # unknown dialect, missing or sync-only driver
        raise ConfigError(
            f"cannot open database URL {parsed.render_as_string(hide_password=True)!r}: {exc}; "
            "use an async driver: sqlite+aiosqlite:// or postgresql+asyncpg:// "
            "(pip install 'personae[postgres]')"
        ) from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _ensure_parent_dir(database: str | None) -> None:
    # ":memory:", "" and "file:" URIs have no folder to create.
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    folder = Path(database).expanduser().parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the database folder {folder}: {exc}; set PERSONAE_HOME or "
            "PERSONAE_DATABASE_URL to a writable place"
        ) from exc


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()
