"""The outbox's delivery states, as sync functions of a connection outside any transaction.

    pending --claim--> sending --sent--> sent   (platform message id, sent_at)
                          |--retry--> pending   (attempts + 1 at claim, available_at later)
                          '--fail---> failed    (code and message; later parts of the reply too)

A conversation's rows go out in id order: only its first unfinished row (its *head*) may be
sent, so part 2 never leaves before part 1 and a later reply never before an earlier one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, and_, func, or_, select, true, update

from personae.stores.runner import atomic
from personae.stores.tables import messages, outbox, utcnow
from personae.types import ChannelStatus, OutboxEntry, VideoPlan, VoiceSettings

OPEN = ("pending", "sending")
# A platform's report never moves a row backwards (read may arrive before delivered).
RANK = {None: 0, "sent": 1, "delivered": 2, "read": 3, "played": 3, "failed": 4}


def entry(row: Row[Any]) -> OutboxEntry:
    payload = json.loads(row.payload)
    return OutboxEntry(
        id=row.id, conversation_id=row.conversation_id, message_id=row.message_id,
        channel=row.channel, connection=str(payload.get("connection", "")),
        chat_id=str(payload.get("chat_id", "")), text=str(payload.get("text", "")),
        part=int(payload.get("part", 1)), parts=int(payload.get("parts", 1)),
        speak=VoiceSettings(**payload["speak"]) if payload.get("speak") else None,
        status=row.status, attempts=row.attempts, available_at=row.available_at,
        last_error=row.last_error, error_code=row.error_code,
        platform_message_id=row.platform_message_id, delivery_status=row.delivery_status,
        created_at=row.created_at, updated_at=row.updated_at, sent_at=row.sent_at,
        delivered_at=row.delivered_at, read_at=row.read_at,
        image_sha256=(payload.get("image") or {}).get("sha256"),
        image_mime=(payload.get("image") or {}).get("mime_type"),
        video=VideoPlan.from_payload(payload["video"]) if payload.get("video") else None,
    )  # fmt: skip


def due_conversations(
    conn: Connection, now: datetime, limit: int
) -> tuple[list[str], datetime | None]:
    """Conversations whose head row is due now, and when the next not-yet-due head is."""
    first = (
        select(outbox.c.conversation_id, func.min(outbox.c.id).label("head"))
        .where(outbox.c.status.in_(OPEN))
        .group_by(outbox.c.conversation_id)
        .subquery()
    )
    query = (
        select(outbox.c.conversation_id, outbox.c.available_at)
        .join(first, outbox.c.id == first.c.head)
        .order_by(outbox.c.available_at)
        .limit(limit)
    )
    due: list[str] = []
    later: datetime | None = None
    for row in conn.execute(query).all():
        if row.available_at <= now:
            due.append(row.conversation_id)
        elif later is None:
            later = row.available_at
    return due, later


def head(conn: Connection, conversation_id: str) -> OutboxEntry | None:
    """The conversation's first unfinished row, due or not."""
    query = (
        select(outbox)
        .where(outbox.c.conversation_id == conversation_id, outbox.c.status.in_(OPEN))
        .order_by(outbox.c.id)
        .limit(1)
    )
    row = conn.execute(query).first()
    return entry(row) if row is not None else None


def claim(conn: Connection, row_id: int) -> bool:
    """pending -> sending, one more attempt; marked before the HTTP call, so a crash mid-send
    leaves a trace the next start-up sees."""
    with atomic(conn):
        done = conn.execute(
            update(outbox)
            .where(outbox.c.id == row_id, outbox.c.status == "pending")
            .values(status="sending", attempts=outbox.c.attempts + 1, updated_at=utcnow())
        )
    return bool(done.rowcount)


def mark_sent(conn: Connection, row_id: int, platform_id: str | None, recipient: str) -> None:
    now = utcnow()
    with atomic(conn):
        conn.execute(
            update(outbox)
            .where(outbox.c.id == row_id)
            .values(
                status="sent", platform_message_id=platform_id, recipient=recipient,
                delivery_status="sent", sent_at=now, updated_at=now,
                last_error=None, error_code=None,
            )
        )  # fmt: skip


def mark_retry(conn: Connection, row_id: int, wait_s: float, code: str | None, error: str) -> None:
    now = utcnow()
    with atomic(conn):
        conn.execute(
            update(outbox)
            .where(outbox.c.id == row_id)
            .values(
                status="pending", available_at=now + timedelta(seconds=wait_s),
                error_code=code, last_error=error, updated_at=now,
            )
        )  # fmt: skip


def mark_failed(conn: Connection, row_id: int, code: str | None, error: str) -> int:
    """The row failed for good, and with it the later parts of the same reply (a reply with a
    hole in the middle would read as nonsense); returns how many later parts were failed."""
    now = utcnow()
    with atomic(conn):
        row = conn.execute(select(outbox.c.message_id).where(outbox.c.id == row_id)).one()
        conn.execute(
            update(outbox)
            .where(outbox.c.id == row_id)
            .values(status="failed", error_code=code, last_error=error, updated_at=now)
        )
        later = conn.execute(
            update(outbox)
            .where(
                outbox.c.message_id == row.message_id,
                outbox.c.id > row_id,
                outbox.c.status.in_(OPEN),
            )
            .values(
                status="failed", error_code="earlier_part_failed", updated_at=now,
                last_error=f"not sent: an earlier part of this reply (outbox {row_id}) failed",
            )
        )  # fmt: skip
    return int(later.rowcount)


def recover_sending(
    conn: Connection, confirming: Sequence[str], wait_s: float, conversation_id: str | None = None
) -> int:
    """Rows left "sending" by a crash go back to pending. On channels that confirm sends by
    webhook (``confirming``) they wait ``wait_s`` first: if the platform took that HTTP call,
    its report (with the row's tag) arrives meanwhile and marks the row sent; only a send it
    never reports is made again (at least once, the lesser harm than a lost reply). The wait
    is counted in time this process is up: a row still waiting at a restart waits afresh, since
    a report the platform tried to deliver while the server was down arrives only later."""
    now = utcnow()
    # A cluster's worker recovers only the lane it holds.
    mine = outbox.c.conversation_id == conversation_id if conversation_id is not None else true()
    held = and_(outbox.c.channel.in_(list(confirming)), mine)
    note = "a crash cut this send off; waiting for the platform to confirm it before sending again"
    with atomic(conn):
        conn.execute(
            update(outbox)
            .where(outbox.c.status == "pending", outbox.c.error_code == UNCONFIRMED, held)
            .values(available_at=now + timedelta(seconds=wait_s), updated_at=now)
        )
        waiting = conn.execute(
            update(outbox)
            .where(outbox.c.status == "sending", held)
            .values(
                status="pending", available_at=now + timedelta(seconds=wait_s),
                error_code=UNCONFIRMED, last_error=note, updated_at=now,
            )
        )  # fmt: skip
        at_once = conn.execute(
            update(outbox)
            .where(outbox.c.status == "sending", mine)
            .values(status="pending", available_at=now, updated_at=now)
        )
    return int(waiting.rowcount) + int(at_once.rowcount)


def last_inbound(conn: Connection, conversation_id: str) -> datetime | None:
    """When the person last wrote: what opens and renews the customer-service window."""
    query = select(func.max(messages.c.created_at)).where(
        messages.c.conversation_id == conversation_id, messages.c.role == "user"
    )
    value = conn.scalar(query)
    if value is None:
        return None
    # max() bypasses the column type on SQLite: the naive UTC string comes back as is.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    found: datetime = value if value.tzinfo else value.replace(tzinfo=utcnow().tzinfo)
    return found


TAG_PREFIX = "personae-outbox:"
# error_code of a row whose last send may or may not have reached the platform.
UNCONFIRMED = "unconfirmed"


def send_tag(row_id: int) -> str:
    """What a send carries so that the platform's report of it names its outbox row."""
    return f"{TAG_PREFIX}{row_id}"


def tagged_row(tag: str | None) -> int | None:
    if tag is None or not tag.startswith(TAG_PREFIX):
        return None
    number = tag.removeprefix(TAG_PREFIX)
    return int(number) if number.isdigit() and len(number) < 19 else None


def confirm_send(conn: Connection, event: ChannelStatus, row_id: int) -> int:
    """The platform reports the row's send: a row still open (its send's answer was lost to a
    crash, or is still on its way) is sent now, and never sent again."""
    now = utcnow()
    with atomic(conn):
        done = conn.execute(
            update(outbox)
            .where(
                outbox.c.id == row_id,
                outbox.c.channel == event.channel,
                outbox.c.status.in_(OPEN),
            )
            .values(
                status="sent", platform_message_id=event.message_id,
                recipient=event.recipient_id or None, delivery_status="sent",
                sent_at=event.at, updated_at=now, last_error=None, error_code=None,
            )
        )  # fmt: skip
    return int(done.rowcount)


def record_status(conn: Connection, event: ChannelStatus) -> int:
    """Apply a platform's delivery report to the rows it names; returns how many changed."""
    row_id = tagged_row(event.tag)
    confirmed = 0
    if row_id is not None and event.state != "failed":
        confirmed = confirm_send(conn, event, row_id)
    rank = RANK.get(event.state, 0)
    values: dict[str, Any] = {"delivery_status": event.state, "updated_at": utcnow()}
    if event.state == "delivered":
        values["delivered_at"] = event.at
    elif event.state in ("read", "played"):
        values["read_at"] = event.at
    elif event.state == "failed":
        values.update(status="failed", error_code=event.error_code)
        values["last_error"] = event.error_message or f"the platform reported {event.error_code}"
    lower = [s for s, r in RANK.items() if r < rank and s is not None]
    below = or_(outbox.c.delivery_status.is_(None), outbox.c.delivery_status.in_(lower))
    where = [outbox.c.channel == event.channel, below]
    if event.message_id is not None:
        where.append(outbox.c.platform_message_id == event.message_id)
    elif event.watermark is not None:  # Messenger: everything sent to the chat until then
        where += [outbox.c.recipient == event.recipient_id, outbox.c.sent_at <= event.watermark]
    else:
        return 0
    with atomic(conn):
        done = conn.execute(update(outbox).where(and_(*where)).values(**values))
    return confirmed + int(done.rowcount)


def conversation_outbox(conn: Connection, conversation_id: str) -> list[OutboxEntry]:
    query = select(outbox).where(outbox.c.conversation_id == conversation_id).order_by(outbox.c.id)
    return [entry(row) for row in conn.execute(query).all()]
