"""Messenger (and, through the same shapes, Instagram messaging): signed webhooks routed by
the page or account id in ``entry[].id``, the Send API, sender actions, attachment download.

Instagram differs only in data: the webhook ``object``, the text limit, which ids route, and
that its receipts name a ``mid`` where Messenger's carry a watermark; ``instagram.py`` supplies it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from personae.channels import delivery
from personae.channels.config import MessengerConnection
from personae.channels.formatting import split_text, to_plain
from personae.channels.webhook import (
    MALFORMED,
    BadPayload,
    answer,
    dicts,
    field,
    from_millis,
    json_object,
    log,
    malformed,
    meta_handshake,
    meta_signature_ok,
    obj,
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
    ChannelDeletion,
    ChannelEcho,
    ChannelMessage,
    ChannelReaction,
    ChannelStatus,
    InboundEvent,
    OutboundImage,
    SendResult,
)

METADATA_MAX = 999  # message.metadata must be under 1,000 characters
_MB = 1024 * 1024
# Inbound attachments are CDN URLs; 25 MB is the Send API's own attachment limit.
MEDIA_TYPES = {
    "image/jpeg": 8 * _MB, "image/png": 8 * _MB, "image/gif": 8 * _MB, "image/webp": 8 * _MB,
    "audio/mpeg": 25 * _MB, "audio/mp4": 25 * _MB, "audio/aac": 25 * _MB, "audio/ogg": 25 * _MB,
    "audio/wav": 25 * _MB, "video/mp4": 25 * _MB, "video/quicktime": 25 * _MB,
    "application/pdf": 25 * _MB, "text/plain": 25 * _MB,
}  # fmt: skip
_KINDS: dict[str, AttachmentKind] = {
    "image": "image", "video": "video", "audio": "audio", "file": "document", "sticker": "sticker",
}  # fmt: skip


@dataclass(frozen=True)
class Flavour:
    """What differs between Messenger and Instagram messaging."""

    name: str
    webhook_object: str
    abilities: ChannelAbilities
    token: Callable[[Any], str]
    # The credential check: `me` (the token's own page, which must be the connected one)
    # or the account's id, with the fields to ask for.
    check_node: Literal["me", "account"] = "me"
    check_fields: str = "id,name"


# Send API: text "must be UTF-8 and less than 2000 characters".
MESSENGER = Flavour(
    name="messenger",
    webhook_object="page",
    # Send API: 300 text calls/s per page; one thread may be limited sooner (no figure given).
    abilities=ChannelAbilities(
        name="messenger",
        max_text_len=1999,
        media_types=MEDIA_TYPES,
        sends_per_s=300.0,
        chat_sends_per_s=1.0,
        chat_burst=3,
        # A send's message.metadata comes back in its echo (subscribe to message_echoes).
        confirms_sends=True,
        sends_voice=True,  # an audio attachment (AAC in MP4), uploaded with the send
        sends_video=True,  # a video attachment (H.264/AAC MP4), uploaded with the send
    ),
    token=lambda c: c.page_access_token.get_secret_value(),
)


class MetaMessagingWebhook:
    """The webhook of one flavour over all its connections (each: ``key``, secrets)."""

    flavour = MESSENGER

    def __init__(self, connections: Sequence[Any], settings: Settings) -> None:
        self._by_id = {c.key: c for c in connections}

    async def handle(self, request: WebhookRequest) -> WebhookResult:
        connections = self._by_id.values()
        if request.method == "GET":
            return meta_handshake(request, [c.verify_token.get_secret_value() for c in connections])
        if request.method != "POST":
            return answer(405, "use GET (verification) or POST (events)")
        secrets = {c.app_secret.get_secret_value() for c in connections}
        signed = [s for s in secrets if meta_signature_ok(request, s)]
        if not signed:
            return answer(403, "missing or wrong X-Hub-Signature-256")
        try:
            events = self._events(json_object(request.body), signed[0])
        except MALFORMED as err:
            return answer(400, f"not a {self.flavour.name} webhook: {malformed(err)}")
        return answer(200, "ok", events)

    def _events(self, data: dict[str, Any], secret: str) -> list[InboundEvent]:
        if data.get("object") != self.flavour.webhook_object:
            raise BadPayload(f"object is not {self.flavour.webhook_object!r}")
        events: list[InboundEvent] = []
        for i, entry in enumerate(dicts(data, "entry", "")):
            account = str(field(entry, "id", str, f"entry.{i}"))
            connection = self._by_id.get(account)
            if connection is None or connection.app_secret.get_secret_value() != secret:
                log.warning("%s webhook for unknown account %s ignored", self.flavour.name, account)
                continue
            for j, item in enumerate(dicts(entry, "messaging", f"entry.{i}")):
                event = self._event(item, account, entry.get("time"), f"entry.{i}.messaging.{j}")
                events += event
        return events

    def _event(
        self, item: dict[str, Any], account: str, time: object, where: str
    ) -> list[InboundEvent]:
        name = self.flavour.name
        sender = str(field(obj(item, "sender") or {"id": ""}, "id", str, f"{where}.sender"))
        recipient = str(obj(item, "recipient").get("id", ""))
        at = from_millis(item.get("timestamp", time))
        if "message" in item:
            return _message(name, account, obj(item, "message"), sender, recipient, at, where)
        if "postback" in item:
            back = obj(item, "postback")
            mid = back.get("mid") or f"postback:{sender}:{item.get('timestamp')}"
            text, payload = str(back.get("title", "")), back.get("payload")
            return [ChannelMessage(name, account, mid, sender, sender, at, text, payload=payload)]
        if "delivery" in item:
            receipt = obj(item, "delivery")
            mark = from_millis(receipt["watermark"]) if "watermark" in receipt else None
            mids = receipt.get("mids") or [None]
            return [ChannelStatus(name, account, "delivered", sender, at, m, mark) for m in mids]
        if "read" in item:
            receipt = obj(item, "read")
            mark = from_millis(receipt["watermark"]) if "watermark" in receipt else None
            return [ChannelStatus(name, account, "read", sender, at, receipt.get("mid"), mark)]
        if "reaction" in item:
            react = obj(item, "reaction")
            emoji = (
                ""
                if react.get("action") == "unreact"
                else react.get("emoji") or react.get("reaction", "")
            )
            return [ChannelReaction(name, account, str(react.get("mid", "")), sender, emoji, at)]
        if "message_edit" in item:
            edit = obj(item, "message_edit")
            mid = str(edit.get("mid", ""))
            text = str(edit.get("text", ""))
            edit_id = f"{mid}#edit{edit.get('num_edit', '')}"
            return [ChannelMessage(name, account, edit_id, sender, sender, at, text, edit_of=mid)]
        log.info("%s event ignored: %s", name, sorted(item))  # optin, referral, handover, ...
        return []


def _message(
    name: str, account: str, msg: dict[str, Any], sender: str, recipient: str, at: Any, where: str
) -> list[InboundEvent]:
    mid = str(field(msg, "mid", str, f"{where}.message"))
    if msg.get("is_echo"):
        metadata = msg.get("metadata")
        tag = metadata if isinstance(metadata, str) and metadata else None
        return [ChannelEcho(name, account, mid, recipient, str(msg.get("text", "")), at, tag)]
    if msg.get("is_deleted"):
        return [ChannelDeletion(name, account, mid, sender, at)]
    if msg.get("is_unsupported"):
        log.info("%s message %s of an unsupported type ignored", name, mid)
        return []
    attachments = tuple(a for a in map(_attachment, dicts(msg, "attachments", where)) if a)
    reply_to = obj(msg, "reply_to").get("mid")
    payload = obj(msg, "quick_reply").get("payload")
    text = str(msg.get("text", ""))
    if not text and not attachments:
        log.info("%s message %s without text or media ignored", name, mid)
        return []
    return [
        ChannelMessage(
            name, account, mid, sender, sender, at, text,
            attachments=attachments, payload=payload, reply_to=reply_to,
        )
    ]  # fmt: skip


def _attachment(item: dict[str, Any]) -> Attachment | None:
    payload = obj(item, "payload")
    kind = _KINDS.get(str(item.get("type")))
    if "sticker_id" in payload:
        kind = "sticker"
    url = payload.get("url")
    if kind is None or not isinstance(url, str):
        return None  # shares, reels, stories, fallbacks: links, not media to fetch
    return Attachment(kind=kind, ref=url)


class MetaMessagingChannel:
    """Sends for one page (Messenger) or professional account (Instagram)."""

    flavour = MESSENGER

    def __init__(self, connection: Any, settings: Settings, http: httpx.AsyncClient) -> None:
        self.connection = connection
        self.abilities = self.flavour.abilities
        self._http = http
        root = f"{settings.graph_api_base.rstrip('/')}/{settings.graph_api_version}"
        self._root = root
        self._url = f"{root}/{connection.key}/messages"
        self._auth = {"Authorization": f"Bearer {self.flavour.token(connection)}"}

    async def _post(self, body: dict[str, Any]) -> tuple[SendResult, dict[str, Any]]:
        try:
            response = await self._http.post(self._url, json=body, headers=self._auth)
        except httpx.HTTPError as err:
            return delivery.network_failure(err), {}
        return delivery.graph_outcome(response)

    async def send_image(
        self, chat_id: str, image: OutboundImage, tag: str | None = None
    ) -> SendResult:
        """An image attachment uploaded with the send (multipart ``filedata``): no public URL
        of the file is needed. A caption goes as a text message after it."""
        message: dict[str, Any] = {
            "attachment": {"type": "image", "payload": {"is_reusable": False}}
        }
        if tag is not None and self.abilities.confirms_sends:
            message["metadata"] = tag[:METADATA_MAX]
        form = {
            "recipient": json.dumps({"id": chat_id}), "messaging_type": "RESPONSE",
            "message": json.dumps(message),
        }  # fmt: skip
        name = "picture." + image.mime_type.rsplit("/", 1)[-1]
        try:
            response = await self._http.post(
                self._url, data=form, files={"filedata": (name, image.data, image.mime_type)},
                headers=self._auth,
            )  # fmt: skip
        except httpx.HTTPError as err:
            return delivery.network_failure(err)
        result, data = delivery.graph_outcome(response)
        if result.outcome != "sent":
            return result
        ids = (str(data.get("message_id")),)
        if image.caption:
            captioned = await self.send(chat_id, image.caption)
            return SendResult(captioned.outcome, ids + captioned.message_ids, code=captioned.code,
                              error=captioned.error)  # fmt: skip
        return SendResult("sent", ids)

    voice_format = "m4a"

    async def send_voice(
        self, chat_id: str, audio: bytes, mime_type: str, duration_s: float, tag: str | None = None
    ) -> SendResult:
        """An audio attachment uploaded with the send (multipart ``filedata``)."""
        return await self._send_attachment(chat_id, "audio", ("reply.m4a", audio, mime_type), tag)

    video_format = "messenger"

    async def send_video(
        self, chat_id: str, video: bytes, mime_type: str, duration_s: float, tag: str | None = None
    ) -> SendResult:
        """A video attachment uploaded with the send (multipart ``filedata``, 25 MB at most)."""
        return await self._send_attachment(chat_id, "video", ("reply.mp4", video, mime_type), tag)

    async def _send_attachment(
        self, chat_id: str, kind: str, file: tuple[str, bytes, str], tag: str | None
    ) -> SendResult:
        message: dict[str, Any] = {"attachment": {"type": kind, "payload": {"is_reusable": False}}}
        if tag is not None and self.abilities.confirms_sends:
            message["metadata"] = tag[:METADATA_MAX]
        form = {
            "recipient": json.dumps({"id": chat_id}), "messaging_type": "RESPONSE",
            "message": json.dumps(message),
        }  # fmt: skip
        files = {"filedata": file}
        try:
            response = await self._http.post(self._url, data=form, files=files, headers=self._auth)
        except httpx.HTTPError as err:
            return delivery.network_failure(err)
        result, data = delivery.graph_outcome(response)
        if result.outcome != "sent":
            return result
        return SendResult("sent", (str(data.get("message_id", "")),))

    async def send(self, chat_id: str, text: str, tag: str | None = None) -> SendResult:
        ids: list[str] = []
        for part in split_text(text, self.abilities.max_text_len):
            message: dict[str, Any] = {"text": to_plain(part)}
            if tag is not None and self.abilities.confirms_sends:
                message["metadata"] = tag[:METADATA_MAX]
            body = {"recipient": {"id": chat_id}, "messaging_type": "RESPONSE", "message": message}
            result, data = await self._post(body)
            if result.outcome != "sent":
                return SendResult(
                    result.outcome, tuple(ids), result.retry_after, result.code, result.error
                )
            ids.append(str(data.get("message_id", "")))
        return SendResult("sent", tuple(ids))

    async def acknowledge(self, chat_id: str, message_id: str | None) -> SendResult:
        # A sender action must be its own request; seen first, then typing.
        for action in ("mark_seen", "typing_on"):
            result, _ = await self._post({"recipient": {"id": chat_id}, "sender_action": action})
            if result.outcome != "sent":
                return result
        return SendResult("sent")

    async def check(self) -> AccountCheck:
        """GET the token's page (``/me``) or the account: does the token work, and for whom."""
        node = "me" if self.flavour.check_node == "me" else self.connection.key
        url = f"{self._root}/{node}?fields={self.flavour.check_fields}"
        shown = {"id": "id", "name": "name", "username": "name"}
        result = await delivery.check_account(
            self._http, url, self._auth, delivery.graph_outcome, shown
        )
        found = result.account.get("id")
        if result.outcome == "ok" and node == "me" and found != self.connection.key:
            error = (
                f"the token belongs to {self.flavour.name} account {found}, not "
                f"{self.connection.key}; use the token of the connected account"
            )
            return AccountCheck("permanent", result.account, "wrong_account", error)
        return result

    async def fetch_media(self, attachment: Attachment) -> MediaFile:
        # The CDN URL in the webhook is the file itself and needs no token.
        return await delivery.download(self._http, attachment.ref, self.abilities.media_types)


async def check(connection: Any, settings: Settings, http: httpx.AsyncClient) -> AccountCheck:
    return await MetaMessagingChannel(connection, settings, http).check()


SPEC = ChannelSpec(
    name=MESSENGER.name,
    connection_model=MessengerConnection,
    abilities=MESSENGER.abilities,
    handler=MetaMessagingWebhook,
    channel=MetaMessagingChannel,
    check=check,
)


@hookimpl
def register_channels(register: RegisterChannel) -> None:
    register(SPEC)
