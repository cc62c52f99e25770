"""The delivery worker: sends outbox rows to their channels, in order, paced, retried.

One lane per conversation sends its rows in id order (a reply's parts, then the next reply),
lanes of different conversations run side by side. A scanner starts lanes: woken when a turn
has committed its rows, and by a timer for retries falling due. Each row:

    pace (account and chat buckets) -> mark "sending" -> one HTTP call -> sent | retry | failed

Retryable failures (timeouts, 5xx, 429, Graph throttling codes) wait ``retry_after`` when the
platform gives one, else exponential backoff with jitter, up to ``delivery_max_attempts``.
Permanent ones (bad token, blocked user, 131047) are recorded with their code, not retried;
the later parts of that reply are failed with them. A row found "sending" at start-up was cut
off mid-call by a crash: where the platform reports sends with the tag each carried, it waits
for that report (then it is sent, not repeated), else it is sent again (at least once).
Outside the 24-hour window nothing is sent: the row fails with the reason, or, where the
connection names an approved template, that template goes out in the reply's place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

import httpx

from personae.channels.delivery import UNKNOWN_OUTCOME
from personae.channels.registry import Connections
from personae.channels.window import window_refusal
from personae.contracts import (
    Channel,
    ChannelAbilities,
    ImageSender,
    MediaStore,
    VideoSender,
    VoiceSender,
)
from personae.delivery.pacing import Pacer
from personae.errors import NotFound, PersonaeError
from personae.metrics import OUTBOX_RETRIES
from personae.settings import Settings
from personae.stores.outbox import UNCONFIRMED, send_tag
from personae.stores.sql import SqlStore
from personae.types import ChannelStatus, OutboundImage, OutboxEntry, SendResult
from personae.video.replies import VideoReplies
from personae.voice.notes import VoiceNotes

log = logging.getLogger(__name__)
SCAN_BATCH = 200
DELIVER = "deliver"  # a cluster's queue jobs that send one conversation's outbox
Send = Callable[[], Awaitable[SendResult]]


@runtime_checkable
class TemplateSender(Protocol):
    async def send_template(self, chat_id: str, name: str, language: str) -> SendResult: ...


def backoff_s(
    attempt: int, base_s: float, cap_s: float, retry_after: float | None, rng: random.Random
) -> float:
    """The wait before the next attempt: the platform's own figure when it gave one, else
    exponential (base, 2 base, 4 base, ... up to cap) with jitter, so retries do not bunch."""
    if retry_after is not None:
        return max(0.0, retry_after)
    ceiling = min(cap_s, base_s * 2.0 ** max(0, attempt - 1))
    return ceiling * rng.uniform(0.5, 1.0)


class Deliveries:
    """The runtime's delivery worker; ``record_status`` applies the platforms' reports."""

    def __init__(
        self,
        store: SqlStore,
        connections: Connections,
        settings: Settings,
        seed: int | None = None,
        calm: Callable[[], Awaitable[None]] | None = None,
        dispatch: Callable[[str], Awaitable[None]] | None = None,
        media: MediaStore | None = None,
        voice: VoiceNotes | None = None,
        video: VideoReplies | None = None,
    ) -> None:
        self._store = store
        self._video = video  # renders the rows that are to go out as videos
        self._voice = voice  # speaks the rows that are to go out as voice notes
        self._media = media  # where picture rows' files are
        # In a cluster a due conversation's lane is a queue job (``dispatch``), run by
        # whichever worker holds that conversation's lock (``run_lane``), not a task here.
        self._dispatch = dispatch
        self._dispatched: dict[str, float] = {}
        self._calm = calm  # waits while requests need the loop more (work/pressure.py)
        self._connections = connections
        self._settings = settings
        self._pacer = Pacer()
        self._rng = random.Random(seed)
        self._http: httpx.AsyncClient | None = None
        self._channels: dict[tuple[str, str], tuple[Any, Channel]] = {}
        self._lanes: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._scanner: asyncio.Task[None] | None = None
        self._closing = False

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Resume: rows cut off mid-send go back to pending, then every due row is sent. In
        a cluster other workers are sending: each lane recovers its own rows (run_lane)."""
        if self._dispatch is None:
            confirming = self._confirming()
            wait_s = self._settings.delivery_confirm_wait_s
            recovered = await self._store.recover_deliveries(confirming, wait_s)
            if recovered:
                log.warning(
                    "%d outbox row(s) were mid-send at a crash; each is sent again unless its "
                    "platform confirms it within %g s (%s)",
                    recovered, wait_s, ", ".join(confirming) or "none confirms sends",
                )  # fmt: skip
        self._http = httpx.AsyncClient(timeout=self._settings.delivery_timeout_s)
        self._scanner = asyncio.create_task(self._scan())

    def _confirming(self) -> list[str]:
        return [n for n, s in self._connections.specs.items() if s.abilities.confirms_sends]

    def wake(self) -> None:
        """New rows were committed (or a lane finished): look for due rows now."""
        self._wake.set()

    async def aclose(self, timeout_s: float = 10.0) -> None:
        """Stop; a send in flight may finish, unsent rows stay pending for the next start."""
        self._closing = True
        self._wake.set()
        tasks = [t for t in (self._scanner, *self._lanes.values()) if t is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._http is not None:
            await self._http.aclose()

    # ------------------------------------------------------------ reading and statuses

    async def record_status(self, event: ChannelStatus) -> int:
        """Apply a platform's sent/delivered/read/failed report to the rows it names (by
        platform message id, or a Messenger watermark); returns how many rows changed."""
        changed = await self._store.record_delivery_status(event)
        if event.state == "failed":
            log.warning(
                "%s reports message %s failed: %s %s",
                event.channel, event.message_id, event.error_code, event.error_message,
            )  # fmt: skip
        return changed

    async def entries(self, conversation_id: str) -> list[OutboxEntry]:
        """The conversation's outbox rows, oldest first: what the admin API shows."""
        return await self._store.conversation_outbox(conversation_id)

    # ------------------------------------------------------------ scanner and lanes

    async def _scan(self) -> None:
        poll = self._settings.delivery_poll_s
        while not self._closing:
            self._wake.clear()
            timeout = poll
            try:
                now = datetime.now(UTC)
                due, later = await self._store.due_deliveries(now, SCAN_BATCH)
                if self._dispatch is not None:
                    await self._dispatch_due(due, poll)
                    due = []
                for conversation_id in due:
                    if conversation_id not in self._lanes:
                        task = asyncio.create_task(self._lane(conversation_id))
                        self._lanes[conversation_id] = task
                if later is not None:
                    timeout = min(poll, max(0.01, (later - now).total_seconds()))
            except Exception:  # the store is down: try again at the next poll
                log.exception("delivery scan failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _dispatch_due(self, due: list[str], poll: float) -> None:
        """A queue job for each due conversation, not again while the last may still run."""
        now = asyncio.get_running_loop().time()
        for conversation_id in due:
            if now - self._dispatched.get(conversation_id, -1e9) >= 2 * poll:
                self._dispatched[conversation_id] = now
                assert self._dispatch is not None
                await self._dispatch(conversation_id)
        for conversation_id, at in list(self._dispatched.items()):
            if now - at >= 2 * poll:
                del self._dispatched[conversation_id]

    async def run_lane(self, conversation_id: str) -> None:
        """A cluster's delivery job: send the conversation's due rows in order. The queue
        runs one such job per conversation at a time, so a row found "sending" here was cut
        off by a worker that died: it is recovered first (confirmed or sent again)."""
        head = await self._store.outbox_head(conversation_id)
        if head is not None and head.status == "sending":
            wait_s = self._settings.delivery_confirm_wait_s
            await self._store.recover_deliveries(self._confirming(), wait_s, conversation_id)
        while not self._closing:
            row = await self._store.outbox_head(conversation_id)
            if row is None or row.available_at > datetime.now(UTC) or row.status != "pending":
                return  # done, or waiting for a retry: the scanner dispatches it again
            await self._deliver(row)
        self._dispatched.pop(conversation_id, None)

    async def _lane(self, conversation_id: str) -> None:
        try:
            while not self._closing:
                row = await self._store.outbox_head(conversation_id)
                if row is None or row.available_at > datetime.now(UTC):
                    return  # done, or waiting for a retry: the scanner comes back for it
                await self._deliver(row)
        except Exception:
            log.exception("delivery to conversation %s failed", conversation_id)
        finally:
            del self._lanes[conversation_id]
            self._wake.set()

    # ------------------------------------------------------------ one row

    async def _deliver(self, row: OutboxEntry) -> None:
        found = self._channel(row)
        if found is None:
            error = (
                f"no {row.channel} connection {row.connection!r} is configured any more; add it "
                "again (channels file, API or `personae channel add`) and resend the message"
            )
            await self._fail(row, "no_connection", error)
            return
        connection, channel = found
        send = await self._window_plan(row, connection, channel)
        if send is None:
            return
        if self._calm is not None:
            await self._calm()
        due = await self._pacer.wait(channel.abilities, row.connection, row.chat_id)
        if not await self._store.claim_delivery(row.id):
            return  # not pending any more: another worker has it
        self._pacer.sending(channel.abilities, row.connection, row.chat_id, due)
        try:
            result = await send()
        except Exception as exc:  # a channel must not raise; a buggy plugin must not stall the lane
            log.exception("outbox %d: the %s channel raised", row.id, row.channel)
            result = SendResult(
                "retryable", code="channel_error", error=f"{type(exc).__name__}: {exc}"
            )
        await self._record(row, result, channel.abilities.confirms_sends)

    async def _window_plan(
        self, row: OutboxEntry, connection: Any, channel: Channel
    ) -> Send | None:
        """The send to make: the reply, the template in its place, or None (recorded failed)."""
        abilities = channel.abilities

        async def reply() -> SendResult:
            if row.image_sha256 is not None:
                return await self._send_image(row, channel)
            if row.video is not None and self._video is not None:
                sent = await self._send_video(row, channel)
                if sent is not None:
                    return sent
            if (
                row.speak is not None
                and self._voice is not None
                and isinstance(channel, VoiceSender)
            ):
                try:
                    spoken = await self._voice.speak(row.text, row.speak, channel.voice_format)
                except PersonaeError as exc:  # no voice today: the words still go out
                    log.warning("outbox %d: speech failed (%s); sending text", row.id, exc)
                else:
                    return await channel.send_voice(
                        row.chat_id, spoken.data, spoken.mime_type, spoken.duration_s,
                        send_tag(row.id),
                    )  # fmt: skip
            return await channel.send(row.chat_id, row.text, send_tag(row.id))

        if abilities.window_hours is None:
            return reply
        last = await self._store.last_inbound(row.conversation_id)
        refusal = window_refusal(abilities, last, datetime.now(UTC))
        if refusal is None:
            return reply
        template = getattr(connection, "template", None)
        if template is None or not isinstance(channel, TemplateSender):
            await self._fail(row, "outside_window", _window_error(abilities, refusal))
            return None
        if row.part > 1 or row.image_sha256 is not None:  # a picture row follows its text
            error = "outside the 24-hour window: the template sent for part 1 replaced this reply"
            await self._fail(row, "outside_window", error)
            return None

        async def templated() -> SendResult:
            return await channel.send_template(row.chat_id, template.name, template.language)

        log.info("outside the window: template %s sent instead of outbox %d", template.name, row.id)
        return templated

    async def _send_video(self, row: OutboxEntry, channel: Channel) -> SendResult | None:
        """A video row rendered and sent; None when it cannot be (then the text goes)."""
        if not isinstance(channel, VideoSender) or self._video is None or row.video is None:
            return None
        try:
            # Kept with the reply: a retry or a second delivery sends it without rendering.
            film = await self._video.film(row.text, row.video, channel.video_format, row.message_id)
        except PersonaeError as exc:  # no video today: the words still go out
            log.warning("outbox %d: the video failed (%s); sending text", row.id, exc)
            return None
        return await channel.send_video(
            row.chat_id, film.data, film.mime_type, film.duration_s, send_tag(row.id)
        )

    async def _send_image(self, row: OutboxEntry, channel: Channel) -> SendResult:
        """A picture row: its file from the media store, sent as a real image message."""
        if not isinstance(channel, ImageSender):
            error = f"the {row.channel} channel cannot send images"
            return SendResult("permanent", code="no_images", error=error)
        if self._media is None or row.image_sha256 is None:
            return SendResult("permanent", code="no_media_store", error="no media store")
        try:
            data = await self._media.read(row.image_sha256)
        except NotFound as gone:
            return SendResult("permanent", code="media_gone", error=str(gone))
        image = OutboundImage(data, row.image_mime or "image/png", row.text)
        return await channel.send_image(row.chat_id, image, send_tag(row.id))

    async def _record(self, row: OutboxEntry, result: SendResult, confirms: bool) -> None:
        attempt = row.attempts + 1
        if result.outcome == "sent":
            platform_id = result.message_ids[0] if result.message_ids else None
            await self._store.delivery_sent(row.id, platform_id, row.chat_id)
            return
        error = result.error or "the platform gave no reason"
        if result.outcome == "permanent":
            await self._fail(row, result.code, error)
            return
        most = self._settings.delivery_max_attempts
        if attempt >= most:
            await self._fail(row, result.code, f"gave up after {attempt} attempts: {error}")
            return
        settings = self._settings
        wait = backoff_s(
            attempt, settings.delivery_backoff_s, settings.delivery_backoff_max_s,
            result.retry_after, self._rng,
        )  # fmt: skip
        if result.code in UNKNOWN_OUTCOME and confirms:
            # The platform may have it: its report of the send (with the row's tag) settles
            # the row if it comes; only without one is the send made again.
            wait = max(wait, settings.delivery_confirm_wait_s)
            error = f"{result.code}: {error}; waiting for the platform to confirm it"
            log.info("outbox %d: %s", row.id, error)
            await self._store.delivery_retry(row.id, wait, UNCONFIRMED, error)
            OUTBOX_RETRIES.labels(row.channel).inc()
            return
        log.info("outbox %d: %s (%s); retrying in %.2fs", row.id, result.code, error, wait)
        await self._store.delivery_retry(row.id, wait, result.code, error)
        OUTBOX_RETRIES.labels(row.channel).inc()

    async def _fail(self, row: OutboxEntry, code: str | None, error: str) -> None:
        later = await self._store.delivery_failed(row.id, code, error)
        log.warning(
            "outbox %d to %s %s failed (%s): %s%s",
            row.id, row.channel, row.chat_id, code, error,
            f"; {later} later part(s) of the reply not sent" if later else "",
        )  # fmt: skip

    def _channel(self, row: OutboxEntry) -> tuple[Any, Channel] | None:
        """The connection and its sender, rebuilt when the connection was replaced."""
        connection = self._connections.find(row.channel, row.connection)
        spec = self._connections.specs.get(row.channel)
        if connection is None or spec is None:
            return None
        key = (row.channel, row.connection)
        cached = self._channels.get(key)
        if cached is None or cached[0] is not connection:
            assert self._http is not None, "start() the worker before it sends"
            cached = (connection, spec.channel(connection, self._settings, self._http))
            self._channels[key] = cached
        return cached


def _window_error(abilities: ChannelAbilities, refusal: SendResult) -> str:
    fix = (
        "configure a `template` (an approved one: {name, language}) on this connection to "
        "send it instead"
        if abilities.name == "whatsapp"
        else "the person must write again first"
    )
    return f"not sent: outside the 24-hour window; {fix}. {refusal.error}"
