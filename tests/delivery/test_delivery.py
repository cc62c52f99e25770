"""Replies leave through the outbox exactly once per part, on the real store and real HTTP:
retried on 429 / 5xx / timeouts with backoff, failed for good on permanent errors, in order,
resumed after a restart, refused outside the 24-hour window (or replaced by a template),
updated by the platforms' statuses."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, update

from channels.harness import (
    APP_SECRET,
    IGSID,
    PSID,
    TG_CHAT,
    VERIFY_TOKEN,
    WA_USER,
    fb_envelope,
    meta_bytes,
    wa_envelope,
)
from channels.platform import (
    BOT_TOKEN,
    IG_ID,
    IG_TOKEN,
    PAGE_ID,
    PAGE_TOKEN,
    PHONE_ID,
    WA_TOKEN,
    PlatformServer,
    graph_error,
)
from personae.channels.inbound import ACK_SLOTS
from personae.channels.webhook import sign
from personae.contracts import WebhookRequest
from personae.runtime import Runtime
from personae.stores.tables import outbox
from personae.types import ChannelStatus, ReadMark
from personae.work.local import LocalWorkQueue

from .conftest import Bench, backdate_inbound, settled

WA_SEND = f"/{PHONE_ID}/messages"
IG_SEND = f"/{IG_ID}/messages"


def whatsapp(template: Any = None) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "persona": "spanish-tutor", "phone_number_id": PHONE_ID, "access_token": WA_TOKEN,
        "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN,
    }  # fmt: skip
    if template is not None:
        fields["template"] = template
    return fields


def wa_text(text: str, row_id: int) -> dict[str, Any]:
    """A reply part as WhatsApp gets it: tagged with its outbox row, which the status webhook
    of the send hands back."""
    return {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": WA_USER,
        "type": "text", "text": {"body": text, "preview_url": False},
        "biz_opaque_callback_data": f"personae-outbox:{row_id}",
    }  # fmt: skip


async def connect(runtime: Runtime, kind: str, fields: dict[str, Any]) -> None:
    if runtime.connections.find(kind, fields.get("phone_number_id") or fields["account_id"]):
        return
    await runtime.connections.add(kind, fields)


async def test_a_reply_is_sent_once_with_the_exact_body(
    bench: Bench, platform: PlatformServer
) -> None:
    async with bench.runtime() as runtime:
        await connect(runtime, "whatsapp", whatsapp())
        conv = await bench.turn(runtime, "whatsapp", PHONE_ID, WA_USER, "hola **amigo**", "wamid.1")
        [row] = await settled(runtime, conv, 1)
        # A redelivery of the same message makes no second reply and no second send.
        await bench.turn(runtime, "whatsapp", PHONE_ID, WA_USER, "hola **amigo**", "wamid.1")
        [again] = await settled(runtime, conv, 1)
    assert platform.sent(WA_SEND) == [wa_text("echo: hola *amigo*", row.id)]
    assert (row.status, row.attempts, row.part, row.parts) == ("sent", 1, 1, 1)
    assert row.platform_message_id and row.platform_message_id.startswith("wamid.OUT")
    assert row.delivery_status == "sent" and row.sent_at is not None
    assert again.id == row.id and again.status == "sent"


async def test_429_5xx_and_a_timeout_are_retried_then_sent_once(
    bench: Bench, platform: PlatformServer
) -> None:
    platform.fail_next = [
        graph_error(429, 4, "(#4) Application request limit reached", retry_after=1),
        graph_error(500, 2, "An unexpected error has occurred.", is_transient=True),
        "hang",
    ]
    async with bench.runtime() as runtime:
        await connect(runtime, "whatsapp", whatsapp())
        conv = await bench.turn(runtime, "whatsapp", PHONE_ID, WA_USER, "try again", "wamid.r")
        [row] = await settled(runtime, conv, 1)
    calls = [r for r in platform.seen if r.path.endswith(WA_SEND)]
    assert [c.body for c in calls] == [wa_text("echo: try again", row.id)] * 4
    assert (row.status, row.attempts, row.last_error) == ("sent", 4, None)
    assert calls[1].at - calls[0].at >= 0.9, "Retry-After: 1 was not honoured"


async def test_a_permanent_error_is_recorded_and_not_retried(
    bench: Bench, platform: PlatformServer
) -> None:
    platform.fail_next = [graph_error(401, 190, "Invalid OAuth access token.", error_subcode=463)]
    async with bench.runtime() as runtime:
        await connect(runtime, "whatsapp", whatsapp())
        conv = await bench.turn(runtime, "whatsapp", PHONE_ID, WA_USER, "bad token", "wamid.p")
        [row] = await settled(runtime, conv, 1)
        await runtime.deliveries.aclose()  # nothing more would be sent, however long we wait
    assert len(platform.sent(WA_SEND)) == 1
    assert (row.status, row.error_code, row.attempts) == ("failed", "190", 1)
    assert "Invalid OAuth access token" in (row.last_error or "")


async def test_retries_stop_after_the_most_attempts(bench: Bench, platform: PlatformServer) -> None:
    bench.settings = bench.settings.model_copy(update={"delivery_max_attempts": 2})
    platform.fail_next = [graph_error(503, 131016, "(#131016) Service unavailable")] * 2
    async with bench.runtime() as runtime:
        await connect(runtime, "whatsapp", whatsapp())
        conv = await bench.turn(runtime, "whatsapp", PHONE_ID, WA_USER, "down", "wamid.m")
        [row] = await settled(runtime, conv, 1)
    assert len(platform.sent(WA_SEND)) == 2
    assert row.status == "failed" and (row.last_error or "").startswith("gave up after 2 attempts")


def instagram() -> dict[str, Any]:
    return {
        "persona": "spanish-tutor", "account_id": IG_ID, "access_token": IG_TOKEN,
        "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN,
    }  # fmt: skip


LONG = " ".join(
    f"Sentence number {i} is here." for i in range(1, 39)
)  # ~1,070 characters, 190 words


async def test_a_long_reply_arrives_in_parts_in_order(
    bench: Bench, platform: PlatformServer
) -> None:
    async with bench.runtime() as runtime:
        await connect(runtime, "instagram", instagram())
        conv = await bench.turn(runtime, "instagram", IG_ID, IGSID, LONG, "m_long")
        rows = await settled(runtime, conv, 2)
    texts = [b["message"]["text"] for b in platform.sent(IG_SEND)]
    assert len(texts) == len(rows) >= 2 and all(len(t) <= 1000 for t in texts)
    assert " ".join(texts) == "echo: " + LONG
    assert texts[0].endswith(".")  # cut on a sentence boundary
    assert [(r.part, r.parts, r.status) for r in rows] == [
        (i, len(rows), "sent") for i in range(1, len(rows) + 1)
    ]
    bodies = platform.sent(IG_SEND)
    assert bodies[0] == {
        "recipient": {"id": IGSID}, "messaging_type": "RESPONSE", "message": {"text": texts[0]},
    }  # fmt: skip


async def test_a_failed_part_fails_the_rest_of_its_reply(
    bench: Bench, platform: PlatformServer
) -> None:
    platform.fail_next = [graph_error(400, 10, "(#10) This message is sent outside of allowed "
                                      "window.", error_subcode=2534022)]  # fmt: skip
    async with bench.runtime() as runtime:
        await connect(runtime, "instagram", instagram())
        conv = await bench.turn(runtime, "instagram", IG_ID, IGSID, LONG, "m_fail")
        rows = await settled(runtime, conv, 2)
    assert len(platform.sent(IG_SEND)) == 1
    assert rows[0].status == "failed" and rows[0].error_code == "10"
    assert all(r.status == "failed" and r.error_code == "earlier_part_failed" for r in rows[1:])


async def test_a_restart_sends_pending_rows_once_and_resends_one_cut_off_mid_send(
    bench: Bench, platform: PlatformServer
) -> None:
    async with bench.runtime(deliver=False) as runtime:  # a server that dies before sending
        await connect(runtime, "instagram", instagram())
        conv = await bench.turn(runtime, "instagram", IG_ID, IGSID, LONG, "m_crash")
        assert isinstance(runtime.work, LocalWorkQueue)
        await runtime.work.join()
        rows = await runtime.deliveries.entries(conv)
        assert len(rows) >= 2 and {r.status for r in rows} == {"pending"}

        def cut_off(conn: Connection) -> None:  # part 1 was mid-call when the process died
            with conn.begin():
                conn.execute(update(outbox).where(outbox.c.id == rows[0].id).values(
                    status="sending", attempts=1))  # fmt: skip

        await runtime.store.run_sync(cut_off)
    assert platform.sent(IG_SEND) == []
    async with bench.runtime() as runtime:
        done = await settled(runtime, conv, len(rows))
    texts = [b["message"]["text"] for b in platform.sent(IG_SEND)]
    assert texts == [r.text for r in rows]  # each part exactly once, in order
    assert [r.status for r in done] == ["sent"] * len(rows)
    assert done[0].attempts == 2 and all(r.attempts == 1 for r in done[1:])


async def test_outside_the_window_nothing_is_sent(bench: Bench, platform: PlatformServer) -> None:
    async with bench.runtime(deliver=False) as runtime:
        await connect(runtime, "whatsapp", whatsapp())
        conv = await bench.turn(runtime, "whatsapp", PHONE_ID, WA_USER, "late", "wamid.w")
        assert isinstance(runtime.work, LocalWorkQueue)
        await runtime.work.join()
        await runtime.store.run_sync(backdate_inbound(25))
    async with bench.runtime() as runtime:
        [row] = await settled(runtime, conv, 1)
    assert platform.sent(WA_SEND) == []
    assert (row.status, row.error_code) == ("failed", "outside_window")
    assert "outside the 24-hour window; configure a `template`" in (row.last_error or "")


async def test_outside_the_window_the_template_is_sent_instead(
    bench: Bench, platform: PlatformServer
) -> None:
    async with bench.runtime(deliver=False) as runtime:
        await connect(runtime, "whatsapp", whatsapp({"name": "hello_world", "language": "en_US"}))
        conv = await bench.turn(runtime, "whatsapp", PHONE_ID, WA_USER, "late", "wamid.t")
        assert isinstance(runtime.work, LocalWorkQueue)
        await runtime.work.join()
        await runtime.store.run_sync(backdate_inbound(30))
    async with bench.runtime() as runtime:  # the stored template survives the restart
        [row] = await settled(runtime, conv, 1)
    assert platform.sent(WA_SEND) == [
        {
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": WA_USER,
            "type": "template",
            "template": {"name": "hello_world", "language": {"code": "en_US"}},
        }
    ]  # fmt: skip
    assert row.status == "sent" and (row.platform_message_id or "").startswith("wamid.OUT")


async def test_statuses_update_the_rows(bench: Bench, platform: PlatformServer) -> None:
    async with bench.runtime() as runtime:
        await connect(runtime, "whatsapp", whatsapp())
        conv = await bench.turn(runtime, "whatsapp", PHONE_ID, WA_USER, "status", "wamid.s")
        [row] = await settled(runtime, conv, 1)
        wamid = row.platform_message_id
        at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

        def status(state: Any, **extra: Any) -> ChannelStatus:
            return ChannelStatus("whatsapp", PHONE_ID, state, WA_USER, at, wamid, **extra)

        assert await runtime.deliveries.record_status(status("read")) == 1
        assert await runtime.deliveries.record_status(status("delivered")) == 0  # not backwards
        [read] = await runtime.deliveries.entries(conv)
        assert (read.delivery_status, read.read_at) == ("read", at)
        failed = status("failed", error_code="131047", error_message="Re-engagement message")
        assert await runtime.deliveries.record_status(failed) == 1
        [row] = await runtime.deliveries.entries(conv)
    assert (row.status, row.delivery_status, row.error_code) == ("failed", "failed", "131047")
    assert row.last_error == "Re-engagement message"


async def test_a_burst_to_one_chat_is_paced_and_in_order(
    bench: Bench, platform: PlatformServer
) -> None:
    bot = {"persona": "spanish-tutor", "name": "ana-bot", "bot_token": BOT_TOKEN, "mode": "polling"}
    chat = str(TG_CHAT)
    async with bench.runtime() as runtime:
        await runtime.connections.add("telegram", bot)
        for i in range(4):
            conv = await bench.turn(
                runtime, "telegram", "ana-bot", chat, f"burst {i}", f"{chat}:{i}"
            )
        await settled(runtime, conv, 4)
    calls = [r for r in platform.seen if r.path.endswith("/sendMessage")]
    assert [c.body["text"] for c in calls] == [f"echo: burst {i}" for i in range(4)]
    gaps = [b.at - a.at for a, b in itertools.pairwise(calls)]
    assert all(gap >= 0.8 for gap in gaps), f"Telegram allows ~1 message/s per chat: {gaps}"


async def test_chats_are_paced_apart_but_sent_side_by_side(
    bench: Bench, platform: PlatformServer
) -> None:
    bot = {"persona": "spanish-tutor", "name": "ana-bot", "bot_token": BOT_TOKEN, "mode": "polling"}
    chats = [str(TG_CHAT), str(TG_CHAT + 1)]
    async with bench.runtime() as runtime:
        await runtime.connections.add("telegram", bot)
        convs = []
        for i in range(2):
            for chat in chats:
                convs.append(
                    await bench.turn(runtime, "telegram", "ana-bot", chat, f"m{i}", f"{chat}:{i}")
                )
        for conv in set(convs):
            await settled(runtime, conv, 2)
    calls = [r for r in platform.seen if r.path.endswith("/sendMessage")]
    first = {c.body["chat_id"]: c.at for c in reversed(calls)}
    assert abs(first[chats[0]] - first[chats[1]]) < 0.5  # one chat's pace holds no other back
    for chat in chats:
        mine = [c for c in calls if c.body["chat_id"] == chat]
        assert [c.body["text"] for c in mine] == ["echo: m0", "echo: m1"]
        assert mine[1].at - mine[0].at >= 0.8


async def test_a_messenger_watermark_marks_everything_sent_before_it(
    bench: Bench, platform: PlatformServer
) -> None:
    page = {
        "persona": "spanish-tutor", "page_id": PAGE_ID, "page_access_token": PAGE_TOKEN,
        "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN,
    }  # fmt: skip
    async with bench.runtime() as runtime:
        await runtime.connections.add("messenger", page)
        conv = await bench.turn(runtime, "messenger", PAGE_ID, PSID, "one", "m_1")
        [row] = await settled(runtime, conv, 1)
        assert row.sent_at is not None
        mark = row.sent_at + timedelta(seconds=1)
        event = ChannelStatus("messenger", PAGE_ID, "read", PSID, mark, None, mark)
        assert await runtime.deliveries.record_status(event) == 1
        before = ChannelStatus("messenger", PAGE_ID, "delivered", PSID, mark, None, row.sent_at
                               - timedelta(seconds=5))  # fmt: skip
        assert await runtime.deliveries.record_status(before) == 0
        [row] = await runtime.deliveries.entries(conv)
    assert (row.status, row.delivery_status, row.read_at) == ("sent", "read", mark)
    assert (row.platform_message_id or "").startswith("m_OUT")


async def cut_off_mid_send(bench: Bench, kind: str, fields: dict[str, Any], chat: str) -> str:
    """A reply whose send was in flight when the process died: its row is left "sending"."""
    key = fields.get("phone_number_id") or fields.get("page_id") or fields["account_id"]
    async with bench.runtime(deliver=False) as runtime:
        if runtime.connections.find(kind, key) is None:
            await runtime.connections.add(kind, fields)
        conv = await bench.turn(runtime, kind, key, chat, "are you there?", f"{kind}.crash")
        assert isinstance(runtime.work, LocalWorkQueue)
        await runtime.work.join()
        [row] = await runtime.deliveries.entries(conv)

        def cut_off(conn: Connection) -> None:
            with conn.begin():
                conn.execute(update(outbox).where(outbox.c.id == row.id).values(
                    status="sending", attempts=1))  # fmt: skip

        await runtime.store.run_sync(cut_off)
    return conv


def signed(body: dict[str, Any]) -> WebhookRequest:
    raw = meta_bytes(body)
    return WebhookRequest("POST", {}, {"x-hub-signature-256": sign(raw, APP_SECRET)}, raw)


async def test_a_send_cut_off_by_a_crash_is_confirmed_by_its_status_not_sent_twice(
    bench: Bench, platform: PlatformServer
) -> None:
    """WhatsApp took the call but the answer was lost: its `sent` status webhook carries the
    row's biz_opaque_callback_data, and that, not a second send, settles the row."""
    bench.settings = bench.settings.model_copy(update={"delivery_confirm_wait_s": 5.0})
    conv = await cut_off_mid_send(bench, "whatsapp", whatsapp(), WA_USER)
    async with bench.runtime() as runtime:
        [held] = await runtime.deliveries.entries(conv)
        assert held.status == "pending" and held.error_code == "unconfirmed"
        assert "waiting for the platform" in (held.last_error or "")
        status = {
            "id": "wamid.TAKEN", "status": "sent", "timestamp": "1750030073",
            "recipient_id": WA_USER, "biz_opaque_callback_data": f"personae-outbox:{held.id}",
        }  # fmt: skip
        result = await runtime.inbound.webhook(
            "whatsapp", signed(wa_envelope({"statuses": [status]}))
        )
        assert result is not None and result.status == 200
        [row] = await settled(runtime, conv, 1, timeout_s=3.0)
    assert platform.sent(WA_SEND) == []
    assert (row.status, row.platform_message_id, row.delivery_status) == (
        "sent",
        "wamid.TAKEN",
        "sent",
    )


async def test_a_send_cut_off_that_no_report_confirms_is_sent_again_after_the_wait(
    bench: Bench, platform: PlatformServer
) -> None:
    bench.settings = bench.settings.model_copy(update={"delivery_confirm_wait_s": 0.6})
    conv = await cut_off_mid_send(bench, "whatsapp", whatsapp(), WA_USER)
    started = time.monotonic()  # the held row becomes due 0.6 s after start-up recovers it
    async with bench.runtime() as runtime:
        [row] = await settled(runtime, conv, 1)
        waited = time.monotonic() - started
    assert platform.sent(WA_SEND) == [wa_text("echo: are you there?", row.id)]
    assert row.status == "sent" and row.attempts == 2 and waited >= 0.5


async def test_a_messenger_echo_with_the_rows_metadata_confirms_a_cut_off_send(
    bench: Bench, platform: PlatformServer
) -> None:
    bench.settings = bench.settings.model_copy(update={"delivery_confirm_wait_s": 5.0})
    page = {
        "persona": "spanish-tutor", "page_id": PAGE_ID, "page_access_token": PAGE_TOKEN,
        "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN,
    }  # fmt: skip
    conv = await cut_off_mid_send(bench, "messenger", page, PSID)
    async with bench.runtime() as runtime:
        [held] = await runtime.deliveries.entries(conv)
        echo = {
            "sender": {"id": PAGE_ID}, "recipient": {"id": PSID}, "timestamp": 1458692752478,
            "message": {"mid": "m_TAKEN", "is_echo": True, "app_id": 1517776481860111,
                        "metadata": f"personae-outbox:{held.id}", "text": held.text},
        }  # fmt: skip
        result = await runtime.inbound.webhook(
            "messenger", signed(fb_envelope("page", PAGE_ID, echo))
        )
        assert result is not None and result.status == 200
        [row] = await settled(runtime, conv, 1, timeout_s=3.0)
    assert platform.sent(f"/{PAGE_ID}/messages") == [] and platform.sent("/me/messages") == []
    assert (row.status, row.platform_message_id) == ("sent", "m_TAKEN")


async def test_a_reply_on_messenger_carries_its_rows_tag_as_metadata(
    bench: Bench, platform: PlatformServer
) -> None:
    page = {
        "persona": "spanish-tutor", "page_id": PAGE_ID, "page_access_token": PAGE_TOKEN,
        "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN,
    }  # fmt: skip
    async with bench.runtime() as runtime:
        await runtime.connections.add("messenger", page)
        conv = await bench.turn(runtime, "messenger", PAGE_ID, PSID, "tag me", "m_tag")
        [row] = await settled(runtime, conv, 1)
    sends = [r.body for r in platform.seen if "message" in (r.body or {})]
    assert sends == [{
        "recipient": {"id": PSID}, "messaging_type": "RESPONSE",
        "message": {"text": "echo: tag me", "metadata": f"personae-outbox:{row.id}"},
    }]  # fmt: skip


async def test_a_timed_out_send_that_whatsapp_reports_is_not_sent_again(
    bench: Bench, platform: PlatformServer
) -> None:
    """The call went out and its answer never came: the row waits for the send's status
    webhook instead of sending a second copy the moment the backoff ends."""
    bench.settings = bench.settings.model_copy(update={"delivery_confirm_wait_s": 5.0})
    platform.fail_next = ["hang"]
    async with bench.runtime() as runtime:
        await connect(runtime, "whatsapp", whatsapp())
        conv = await bench.turn(runtime, "whatsapp", PHONE_ID, WA_USER, "slow", "wamid.slow")
        [held] = await settled(runtime, conv, 1, done=lambda e: e.last_error is not None)
        assert held.status == "pending" and held.error_code == "unconfirmed"
        assert (held.last_error or "").startswith("timeout: ")
        assert "waiting for the platform to confirm" in (held.last_error or "")
        status = {
            "id": "wamid.SLOW", "status": "sent", "timestamp": "1750030073",
            "recipient_id": WA_USER, "biz_opaque_callback_data": f"personae-outbox:{held.id}",
        }  # fmt: skip
        envelope = wa_envelope({"statuses": [status]})
        result = await runtime.inbound.webhook("whatsapp", signed(envelope))
        assert result is not None and result.status == 200
        [row] = await settled(runtime, conv, 1, timeout_s=3.0)
    assert platform.sent(WA_SEND) == [wa_text("echo: slow", row.id)]  # the one that hung
    assert (row.status, row.platform_message_id, row.attempts) == ("sent", "wamid.SLOW", 1)


async def test_a_held_send_waits_afresh_after_another_restart(
    bench: Bench, platform: PlatformServer
) -> None:
    """The platform retries its report while the server is down: the wait for it counts time
    the server is up, so a crash loop never turns into a second send."""
    bench.settings = bench.settings.model_copy(update={"delivery_confirm_wait_s": 5.0})
    conv = await cut_off_mid_send(bench, "whatsapp", whatsapp(), WA_USER)
    async with bench.runtime() as runtime:
        [first] = await runtime.deliveries.entries(conv)
    await asyncio.sleep(0.3)
    async with bench.runtime() as runtime:
        [again] = await runtime.deliveries.entries(conv)
    assert first.status == again.status == "pending" and again.error_code == "unconfirmed"
    assert again.available_at - first.available_at >= timedelta(seconds=0.25)
    assert platform.sent(WA_SEND) == []


async def test_a_chats_waiting_read_receipts_collapse_to_the_message_stored_last(
    bench: Bench, platform: PlatformServer
) -> None:
    """Each message's after-accept work is a task of its own, so read marks arrive in any
    order. While the acknowledgement slots are busy, a chat's waiting marks collapse into
    one for the message stored last (not the mark handed over last), and a mark older than
    a message read already is dropped: reading a message marks the earlier ones read."""
    platform.fail_only = WA_SEND
    platform.fail_next = ["hang"] * ACK_SLOTS  # other chats' receipts hold every slot
    async with bench.runtime() as runtime:
        await connect(runtime, "whatsapp", whatsapp())

        def mark(chat: str, stored_id: int) -> ReadMark:
            return ReadMark("whatsapp", PHONE_ID, chat, f"wamid.{chat}.{stored_id}", stored_id)

        for n in range(ACK_SLOTS):
            runtime.inbound.acknowledge(mark(f"1555000000{n}", n + 1))
        await asyncio.sleep(0.3)  # the slots are taken, their calls hang
        for stored_id in (15, 19, 17):  # handed over out of order
            runtime.inbound.acknowledge(mark(WA_USER, stored_id))

        def read(chat: str) -> list[str]:
            receipts = [b for b in platform.sent(WA_SEND) if b.get("status") == "read"]
            return [
                b["message_id"] for b in receipts if b["message_id"].startswith(f"wamid.{chat}")
            ]

        deadline = time.monotonic() + 10
        while not read(WA_USER):
            assert time.monotonic() < deadline, "the chat's receipt was never sent"
            await asyncio.sleep(0.05)
        runtime.inbound.acknowledge(mark(WA_USER, 16))  # older than the one read
        await asyncio.sleep(0.3)
        assert read(WA_USER) == [f"wamid.{WA_USER}.19"]
        runtime.inbound.acknowledge(mark(WA_USER, 20))  # a newer message is read again
        while len(read(WA_USER)) < 2:
            assert time.monotonic() < deadline, read(WA_USER)
            await asyncio.sleep(0.05)
        assert read(WA_USER) == [f"wamid.{WA_USER}.19", f"wamid.{WA_USER}.20"]
