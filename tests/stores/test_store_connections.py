"""Stored channel connections: one per (kind, account), fields kept exactly as given."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from personae.stores.sql import SqlStore
from personae.types import ConnectionRecord, Persona


async def test_add_list_and_remove_one_connection_per_account(store: SqlStore) -> None:
    slug = f"conn-{uuid.uuid4().hex[:8]}"
    await store.put_persona(Persona(id=slug, name="C", greeting="Hi"))
    key = uuid.uuid4().hex[:12]
    fields = (("name", key), ("bot_token", "env:TG_TOKEN"), ("mode", "polling"), ("x", "é ••"))
    record = ConnectionRecord("telegram", key, slug, fields, datetime.now(UTC))
    # Concurrent adds of one account: exactly one is stored, the others are told it exists.
    added = await asyncio.gather(*(store.add_connection(record) for _ in range(5)))
    assert sorted(added) == [False, False, False, False, True]
    found = [r for r in await store.list_connections() if r.key == key]
    assert [(r.kind, r.persona, r.fields) for r in found] == [("telegram", slug, fields)]
    assert found[0].created_at.tzinfo is not None
    assert await store.remove_connection("telegram", key) is True
    assert await store.remove_connection("telegram", key) is False
    assert not [r for r in await store.list_connections() if r.key == key]
