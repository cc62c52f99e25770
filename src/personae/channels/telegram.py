"""Telegram Bot API: webhooks checked by their secret token (or long polling), sends in HTML
parse mode, chat actions, getFile downloads.

Message ids are only unique within a chat, so the idempotency key is ``chat_id:message_id``
(an edit adds ``:edit_date``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from personae.channels import delivery
from personae.channels.config import TelegramConnection
from personae.channels.formatting import split_text, to_plain, to_telegram_html
from personae.channels.webhook import (
    MALFORMED,
    answer,
    field,
    from_seconds,
    json_object,
    log,
    malformed,
    obj,
    telegram_secret_ok,
)
from personae.contracts import (
    AccountCheck,
    ChannelAbilities,
    ChannelSpec,
    MediaFile,
    WebhookRequest,
    WebhookResult,
)
from personae.plugins import RegisterChannel, hookimpl
from personae.settings import Settings
from personae.types import (
    Attachment,
    AttachmentKind,
    ChannelMessage,
    ChannelReaction,
    Contact,
    InboundEvent,
    Location,
    OutboundImage,
    SendResult,
)
from personae.video.render import FORMATS as VIDEO_FORMATS

NAME = "telegram"
_MB = 1024 * 1024
_DOWNLOAD_MAX = 20 * _MB  # getFile serves bots files up to 20 MB
ABILITIES = ChannelAbilities(
    name=NAME,
    max_text_len=4096,
    media_types={
        "image/jpeg": _DOWNLOAD_MAX, "image/png": _DOWNLOAD_MAX, "image/webp": _DOWNLOAD_MAX,
        "audio/ogg": _DOWNLOAD_MAX, "audio/mpeg": _DOWNLOAD_MAX, "audio/mp4": _DOWNLOAD_MAX,
        "video/mp4": _DOWNLOAD_MAX, "video/webm": _DOWNLOAD_MAX,
        "application/pdf": _DOWNLOAD_MAX, "text/plain": _DOWNLOAD_MAX,
    },
    window_hours=None,  # bots may write to a chat any time after the person started it
    # Bot FAQ: about 30 messages per second overall, no more than one per second in a chat.
    sends_per_s=30.0, chat_sends_per_s=1.0, chat_burst=1,
    sends_voice=True,  # sendVoice: OGG/Opus plays as a voice message
    sends_video=True,  # sendVideoNote: a square MP4 plays as a round video message
)  # fmt: skip
ALLOWED_UPDATES = ("message", "edited_message", "message_reaction")
# Message keys carrying a file: (kind, MIME when Telegram does not say).
_FILES: dict[str, tuple[AttachmentKind, str | None]] = {
    "voice": ("audio", "audio/ogg"), "audio": ("audio", None), "video": ("video", "video/mp4"),
    "video_note": ("video", "video/mp4"), "animation": ("video", "video/mp4"),
    "document": ("document", None), "sticker": ("sticker", "image/webp"),
}  # fmt: skip


def normalise_update(update: dict[str, Any], bot: str) -> list[InboundEvent]:
    """One Update as events; kinds we do not handle (polls, chat members, ...) give none."""
    field(update, "update_id", int, "update")
    if "message" in update or "edited_message" in update:
        edited = "edited_message" in update
        message = obj(update, "edited_message" if edited else "message")
        return [_message(message, bot, edited)]
    if "message_reaction" in update:
        reaction = obj(update, "message_reaction")
        chat = str(obj(reaction, "chat").get("id", ""))
        emoji = next((r.get("emoji", "") for r in reaction.get("new_reaction", [])), "")
        user = str(obj(reaction, "user").get("id", chat))
        mid = f"{chat}:{reaction.get('message_id')}"
        return [ChannelReaction(NAME, bot, mid, user, emoji, from_seconds(reaction.get("date")))]
    log.info("telegram update kind ignored: %s", sorted(k for k in update if k != "update_id"))
    return []


def _message(msg: dict[str, Any], bot: str, edited: bool) -> ChannelMessage:
    where = "update.message"
    chat = str(field(obj(msg, "chat"), "id", int, f"{where}.chat"))
    sender = obj(msg, "from")
    number = field(msg, "message_id", int, where)
    mid = f"{chat}:{number}"
    name = " ".join(filter(None, (sender.get("first_name"), sender.get("last_name"))))
    reply = obj(msg, "reply_to_message").get("message_id")
    return ChannelMessage(
        NAME, bot,
        message_id=f"{mid}:{msg.get('edit_date')}" if edited else mid,
        sender_id=str(sender.get("id", chat)),
        chat_id=chat,
        sent_at=from_seconds(field(msg, "date", int, where)),
        text=str(msg.get("text") or msg.get("caption") or ""),
        attachments=_attachments(msg),
        location=_location(msg),
        contacts=_contacts(msg),
        reply_to=f"{chat}:{reply}" if reply is not None else None,
        sender_name=name or None,
        sender_language=language if isinstance(language := sender.get("language_code"), str)
        else None,
        edit_of=mid if edited else None,
    )  # fmt: skip


def _attachments(msg: dict[str, Any]) -> tuple[Attachment, ...]:
    photos = msg.get("photo")
    if isinstance(photos, list) and photos and isinstance(photos[-1], dict):
        largest = photos[-1]  # sizes come smallest first
        return (
            Attachment("image", str(largest["file_id"]), "image/jpeg", largest.get("file_size")),
        )
    for key, (kind, default_mime) in _FILES.items():
        item = obj(msg, key)
        if "file_id" in item:
            mime = item.get("mime_type") or default_mime
            if key == "sticker" and (item.get("is_animated") or item.get("is_video")):
                mime = "application/x-tgsticker" if item.get("is_animated") else "video/webm"
            return (
                Attachment(
                    kind, str(item["file_id"]), mime, item.get("file_size"),
                    filename=item.get("file_name"), voice=key == "voice",
                ),
            )  # fmt: skip
    return ()


def _location(msg: dict[str, Any]) -> Location | None:
    venue = obj(msg, "venue")
    where = obj(venue, "location") or obj(msg, "location")
    if "latitude" not in where:
        return None
    return Location(
        float(where["latitude"]), float(where["longitude"]),
        venue.get("title"), venue.get("address"),
    )  # fmt: skip


def _contacts(msg: dict[str, Any]) -> tuple[Contact, ...]:
    card = obj(msg, "contact")
    if not card:
        return ()
    name = " ".join(filter(None, (card.get("first_name"), card.get("last_name"))))
    user = card.get("user_id")
    return (Contact(name, (str(card.get("phone_number", "")),), str(user) if user else None),)


class TelegramWebhook:
    """``POST /webhooks/telegram/{name}``: the bot is named by the route, checked by its secret."""

    def __init__(self, connections: Sequence[TelegramConnection], settings: Settings) -> None:
        self._bots = {c.name: c for c in connections}

    async def handle(self, request: WebhookRequest) -> WebhookResult:
        bot = self._bots.get(request.route)
        if bot is None:
            log.warning("telegram webhook for unknown bot %r ignored", request.route)
            return answer(404, f"no telegram bot named {request.route!r} is connected")
        if request.method != "POST":
            return answer(405, "use POST")
        secret = bot.secret_token.get_secret_value() if bot.secret_token else None
        if secret is None or not telegram_secret_ok(request, secret):
            return answer(403, "missing or wrong X-Telegram-Bot-Api-Secret-Token")
        try:
            events = normalise_update(json_object(request.body), bot.name)
        except MALFORMED as err:
            return answer(400, f"not a Telegram update: {malformed(err)}")
        return answer(200, "ok", events)


class TelegramChannel:
    abilities = ABILITIES

    def __init__(
        self, connection: TelegramConnection, settings: Settings, http: httpx.AsyncClient
    ) -> None:
        self.connection = connection
        self._http = http
        token = connection.bot_token.get_secret_value()
        base = settings.telegram_api_base.rstrip("/")
        self._api = f"{base}/bot{token}"
        self._files = f"{base}/file/bot{token}"

    async def _call(
        self, method: str, body: dict[str, Any], wait_s: float | None = None
    ) -> tuple[SendResult, Any]:
        url = f"{self._api}/{method}"
        try:
            if wait_s is None:
                response = await self._http.post(url, json=body)
            else:  # a long poll must outlast its own server-side wait
                response = await self._http.post(url, json=body, timeout=wait_s)
        except httpx.HTTPError as err:
            return delivery.network_failure(err), None
        return delivery.telegram_outcome(response)

    async def send(self, chat_id: str, text: str, tag: str | None = None) -> SendResult:
        # Telegram reports nothing about a bot's own sends: ``tag`` has nowhere to go.
        ids: list[str] = []
        for part in split_text(text, ABILITIES.max_text_len):
            body = {"chat_id": chat_id, "text": to_telegram_html(part), "parse_mode": "HTML"}
            result, message = await self._call("sendMessage", body)
            if result.outcome == "permanent" and "can't parse entities" in (result.error or ""):
                # Odd markdown must not lose the reply: send the same words unformatted.
                plain = {"chat_id": chat_id, "text": to_plain(part)}
                result, message = await self._call("sendMessage", plain)
            if result.outcome != "sent":
                return SendResult(
                    result.outcome, tuple(ids), result.retry_after, result.code, result.error
                )
            ids.append(f"{chat_id}:{message['message_id']}")
        return SendResult("sent", tuple(ids))

    async def send_image(
        self, chat_id: str, image: OutboundImage, tag: str | None = None
    ) -> SendResult:
        """sendPhoto with the file as a multipart upload (no public URL needed)."""
        form = {"chat_id": chat_id}
        if image.caption:
            form["caption"] = to_plain(image.caption)[:1024]
        name = "picture." + image.mime_type.rsplit("/", 1)[-1]
        return await self._upload(
            "sendPhoto", chat_id, form, {"photo": (name, image.data, image.mime_type)}
        )

    voice_format = "opus"

    async def send_voice(
        self, chat_id: str, audio: bytes, mime_type: str, duration_s: float, tag: str | None = None
    ) -> SendResult:
        """sendVoice with the OGG/Opus file uploaded as multipart ``voice``."""
        form = {"chat_id": chat_id, "duration": str(max(1, round(duration_s)))}
        files = {"voice": ("reply.ogg", audio, mime_type.split(";")[0])}
        return await self._upload("sendVoice", chat_id, form, files)

    video_format = "telegram"

    async def send_video(
        self, chat_id: str, video: bytes, mime_type: str, duration_s: float, tag: str | None = None
    ) -> SendResult:
        """sendVideoNote (a round video message) with the square MP4 uploaded as multipart
        ``video_note``; ``length`` is its side in pixels."""
        form = {
            "chat_id": chat_id, "duration": str(max(1, round(duration_s))),
            "length": str(VIDEO_FORMATS[self.video_format].size),
        }  # fmt: skip
        files = {"video_note": ("reply.mp4", video, mime_type)}
        return await self._upload("sendVideoNote", chat_id, form, files)

    async def _upload(
        self,
        method: str,
        chat_id: str,
        form: dict[str, str],
        files: dict[str, tuple[str, bytes, str]],
    ) -> SendResult:
        """One Bot API send with a file as a multipart upload (no public URL needed)."""
        try:
            response = await self._http.post(f"{self._api}/{method}", data=form, files=files)
        except httpx.HTTPError as err:
            return delivery.network_failure(err)
        result, message = delivery.telegram_outcome(response)
        if result.outcome != "sent":
            return result
        return SendResult("sent", (f"{chat_id}:{message['message_id']}",))

    async def acknowledge(self, chat_id: str, message_id: str | None) -> SendResult:
        # Bots cannot mark messages read; typing shows for 5 s or until the reply arrives.
        return (await self._call("sendChatAction", {"chat_id": chat_id, "action": "typing"}))[0]

    async def fetch_media(self, attachment: Attachment) -> MediaFile:
        limits = ABILITIES.media_types
        early = delivery.refuse_early(limits, attachment.mime_type, attachment.size)
        if early is not None:
            return early
        result, info = await self._call("getFile", {"file_id": attachment.ref})
        if result.outcome != "sent":
            return MediaFile(result.outcome, error=result.error)
        early = delivery.refuse_early(limits, attachment.mime_type, info.get("file_size"))
        if early is not None or "file_path" not in info:
            return early or MediaFile("permanent", error="getFile returned no file_path")
        url = f"{self._files}/{info['file_path']}"
        # getFile does not keep the MIME type, so the one from the update decides.
        file = await delivery.download(self._http, url, limits, attachment.mime_type)
        return file

    async def check(self) -> AccountCheck:
        """getMe: does the token work, and which bot is it."""
        shown = {"id": "id", "username": "username", "first_name": "name"}
        return await delivery.check_account(
            self._http, f"{self._api}/getMe", {}, delivery.telegram_outcome, shown
        )

    async def poll(
        self, offset: int | None, poll_s: int = 30
    ) -> tuple[list[InboundEvent], int | None, SendResult]:
        """One long poll: (events, the next offset, how the call went). Calling again with the
        returned offset confirms the updates received."""
        body: dict[str, Any] = {"timeout": poll_s, "allowed_updates": list(ALLOWED_UPDATES)}
        if offset is not None:
            body["offset"] = offset
        result, updates = await self._call("getUpdates", body, wait_s=poll_s + 10)
        if result.outcome != "sent":
            return [], offset, result
        events: list[InboundEvent] = []
        for update in updates:
            offset = max(offset or 0, int(update.get("update_id", 0)) + 1)
            try:
                events += normalise_update(update, self.connection.name)
            except MALFORMED as err:
                log.warning("telegram update skipped: %s", malformed(err))
        return events, offset, result


async def check(
    connection: TelegramConnection, settings: Settings, http: httpx.AsyncClient
) -> AccountCheck:
    return await TelegramChannel(connection, settings, http).check()


SPEC = ChannelSpec(
    name=NAME,
    connection_model=TelegramConnection,
    abilities=ABILITIES,
    handler=TelegramWebhook,
    channel=TelegramChannel,
    check=check,
)


@hookimpl
def register_channels(register: RegisterChannel) -> None:
    register(SPEC)
