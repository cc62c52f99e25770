"""The Character Card a persona was imported from, stored with the persona in one transaction.

Each operation is a sync function of a connection outside any transaction (see runner.py).
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select

from personae.stores import personas as _personas
from personae.stores.runner import atomic
from personae.stores.serialize import persona_from_json, persona_to_json
from personae.stores.tables import persona_card_assets, persona_cards, utcnow
from personae.types import CardRecord, Persona, PersonaRecord


def import_card(conn: Connection, persona: Persona, record: CardRecord) -> PersonaRecord:
    """The persona (a new revision when it exists) and its card, replacing an earlier card."""
    spec = persona_to_json(persona)
    with atomic(conn):
        stored = _personas.put_in_transaction(conn, persona, spec)
        conn.execute(delete(persona_card_assets).where(persona_card_assets.c.slug == persona.id))
        conn.execute(delete(persona_cards).where(persona_cards.c.slug == persona.id))
        conn.execute(
            insert(persona_cards).values(
                slug=persona.id,
                card=record.card,
                imported=persona_to_json(record.imported),
                image=record.image,
                created_at=utcnow(),
            )
        )
        if record.assets:
            conn.execute(
                insert(persona_card_assets),
                [{"slug": persona.id, "path": p, "data": d} for p, d in record.assets],
            )
    return stored


def get_card(conn: Connection, slug: str) -> CardRecord | None:
    row = conn.execute(select(persona_cards).where(persona_cards.c.slug == slug)).first()
    if row is None:
        return None
    assets = conn.execute(
        select(persona_card_assets.c.path, persona_card_assets.c.data)
        .where(persona_card_assets.c.slug == slug)
        .order_by(persona_card_assets.c.path)
    ).all()
    return CardRecord(
        row.card,
        persona_from_json(row.imported),
        bytes(row.image) if row.image is not None else None,
        tuple((a.path, bytes(a.data)) for a in assets),
    )
