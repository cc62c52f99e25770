"""Turn a database URL into a Runner: SQLite on sync pysqlite in threads, others async.

PERSONAE_DATABASE_URL names SQLite as ``sqlite:///path`` (``sqlite+aiosqlite:///path`` is
accepted too); either way the store drives it through the sync pysqlite driver, one thread hop
per operation. PostgreSQL stays on asyncpg.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import URL, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import StaticPool

from personae.errors import ConfigError
from personae.private import private_dir, private_file
from personae.stores.runner import SQLITE_BUSY_TIMEOUT_MS, AsyncRunner, Runner, SqliteRunner

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # In WAL mode a commit reaches the WAL file without an fsync: it survives a killed
    # process (what a webhook's 200 promises against); the fsyncs come with checkpoints.
    "PRAGMA synchronous=NORMAL",
    # Checkpoints run on a thread of their own (runner.py), not inside a waited-on commit.
    "PRAGMA wal_autocheckpoint=0",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
)
_SQLITE_DRIVERS = {"aiosqlite", "pysqlite"}
_EXAMPLES = "e.g. sqlite:///path/personae.db or postgresql+asyncpg://user@host/db"


def open_runner(url: str, **options: Any) -> Runner:
    """A runner for ``url``; raises ConfigError for a URL the store cannot use."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"database URL {url!r} is not a valid SQLAlchemy URL ({exc}); "
            f"set PERSONAE_DATABASE_URL to {_EXAMPLES}"
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_runner(parsed, options)
    try:
        engine = create_async_engine(parsed, **options)
    except Exception as exc:  # unknown dialect, missing or sync-only driver
        raise ConfigError(
            f"cannot open database URL {parsed.render_as_string(hide_password=True)!r}: {exc}; "
            "use sqlite:// or postgresql+asyncpg:// "
            "(pip install 'personae[postgres]')"
        ) from exc
    return AsyncRunner(engine, parsed)


def _sqlite_runner(parsed: URL, options: dict[str, Any]) -> SqliteRunner:
    if parsed.get_driver_name() not in _SQLITE_DRIVERS:
        raise ConfigError(
            f"cannot open database URL {parsed.render_as_string(hide_password=True)!r}: "
            f"the SQLite driver {parsed.get_driver_name()!r} is not supported; "
            f"set PERSONAE_DATABASE_URL to {_EXAMPLES}"
        )
    memory = _is_memory(parsed)
    if not memory:
        _ensure_private_file(parsed.database)
    elif "poolclass" not in options:
        # One connection shared by every thread: each new one would be another empty database.
        options = {**options, "poolclass": StaticPool}
        options["connect_args"] = {"check_same_thread": False, **options.get("connect_args", {})}
    try:
        engine = create_engine(parsed.set(drivername="sqlite+pysqlite"), **options)
    except Exception as exc:  # bad query parameters, unknown engine options
        raise ConfigError(
            f"cannot open database URL {parsed.render_as_string(hide_password=True)!r}: {exc}; "
            f"set PERSONAE_DATABASE_URL to {_EXAMPLES}"
        ) from exc
    event.listen(engine, "connect", _sqlite_pragmas)
    return SqliteRunner(engine, parsed, memory=memory)


def _is_memory(parsed: URL) -> bool:
    return parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory"


def _ensure_private_file(database: str | None) -> None:
    # "file:" URIs have no folder to create.
    if not database or database.startswith("file:"):
        return
    file = Path(database).expanduser()
    try:
        private_dir(file.parent)
        private_file(file)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the database file {file} or its folder: {exc}; set PERSONAE_HOME or "
            "PERSONAE_DATABASE_URL to a writable place"
        ) from exc


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()
