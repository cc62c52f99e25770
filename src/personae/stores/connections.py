"""Channel connections added through the API or CLI, keyed by (kind, account key).

Each operation is a sync function of a connection outside any transaction (see runner.py).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select
from sqlalchemy.exc import IntegrityError

from personae.stores.runner import atomic
from personae.stores.tables import channel_connections as table
from personae.types import ConnectionRecord


def _record(row: Row[Any]) -> ConnectionRecord:
    fields = json.loads(row.fields)
    return ConnectionRecord(
        kind=row.kind,
        key=row.account_key,
        persona=row.persona_slug,
        fields=tuple((str(k), str(v)) for k, v in fields.items()),
        created_at=row.created_at,
    )


def list_connections(conn: Connection) -> list[ConnectionRecord]:
    query = select(table).order_by(table.c.kind, table.c.account_key)
    return [_record(row) for row in conn.execute(query).all()]


def add_connection(conn: Connection, record: ConnectionRecord) -> bool:
    """Store a new connection; False when (kind, key) is already stored."""
    values = {
        "kind": record.kind,
        "account_key": record.key,
        "persona_slug": record.persona,
        "fields": json.dumps(dict(record.fields), ensure_ascii=False),
        "created_at": record.created_at,
    }
    try:
        with atomic(conn):
            conn.execute(insert(table).values(**values))
    except IntegrityError:
        return False
    return True


def remove_connection(conn: Connection, kind: str, key: str) -> bool:
    """Forget a stored connection; False when there was none."""
    with atomic(conn):
        done = conn.execute(delete(table).where(table.c.kind == kind, table.c.account_key == key))
    return bool(done.rowcount)
