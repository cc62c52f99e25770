"""WhatsApp Cloud API: signed webhooks routed by phone_number_id, sends, read + typing, media.

Media flow: the webhook carries a media id; ``GET /{version}/{id}`` gives a short-lived URL,
fetched with the same bearer token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from personae.channels import delivery
from personae.channels.config import WhatsAppConnection
from personae.channels.formatting import split_text, to_whatsapp
from personae.channels.webhook import (
    MALFORMED,
    BadPayload,
    answer,
    dicts,
    field,
    from_seconds,
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
    ChannelDeletion,
    ChannelMessage,
    ChannelReaction,
    ChannelStatus,
    Contact,
    InboundEvent,
    Location,
    OutboundImage,
    SendResult,
)

NAME = "whatsapp"
_MB = 1024 * 1024
ABILITIES = ChannelAbilities(
    name=NAME,
    max_text_len=4096,
    media_types={
        "image/jpeg": 5 * _MB, "image/png": 5 * _MB, "image/webp": 500 * 1024,
        "audio/aac": 16 * _MB, "audio/amr": 16 * _MB, "audio/mpeg": 16 * _MB,
        "audio/mp4": 16 * _MB, "audio/ogg": 16 * _MB,
        "video/mp4": 16 * _MB, "video/3gpp": 16 * _MB,
        "application/pdf": 100 * _MB, "text/plain": 100 * _MB,
    },
    # 80 msg/s per number by default (130429 beyond); the pair rate is 1 message per 6 s to
    # one user with bursts borrowed from later (131056 beyond): a burst of 10 borrows little.
    sends_per_s=80.0, chat_sends_per_s=1 / 6, chat_burst=10,
    # Every send is reported by a status webhook carrying its biz_opaque_callback_data.
    confirms_sends=True,
    sends_voice=True,  # OGG/Opus uploaded to /media, then sent as audio with voice: true
    sends_video=True,  # H.264/AAC MP4 uploaded to /media, then sent as type video
)  # fmt: skip
CALLBACK_DATA_MAX = 512  # Graph's limit on biz_opaque_callback_data
_MEDIA_KINDS = ("image", "audio", "video", "document", "sticker")


class WhatsAppWebhook:
    def __init__(self, connections: Sequence[WhatsAppConnection], settings: Settings) -> None:
        self._by_number = {c.phone_number_id: c for c in connections}

    async def handle(self, request: WebhookRequest) -> WebhookResult:
        if request.method == "GET":
            return meta_handshake(
                request, [c.verify_token.get_secret_value() for c in self._by_number.values()]
            )
        if request.method != "POST":
            return answer(405, "use GET (verification) or POST (events)")
        secrets = {c.app_secret.get_secret_value() for c in self._by_number.values()}
        signed = [s for s in secrets if meta_signature_ok(request, s)]
        if not signed:
            return answer(403, "missing or wrong X-Hub-Signature-256")
        try:
            events = self._events(json_object(request.body), signed[0])
        except MALFORMED as err:
            return answer(400, f"not a WhatsApp webhook: {malformed(err)}")
        return answer(200, "ok", events)

    def _events(self, data: dict[str, Any], secret: str) -> list[InboundEvent]:
        if data.get("object") != "whatsapp_business_account":
            raise BadPayload("object is not whatsapp_business_account")
        events: list[InboundEvent] = []
        for i, entry in enumerate(dicts(data, "entry", "")):
            for j, change in enumerate(dicts(entry, "changes", f"entry.{i}")):
                where = f"entry.{i}.changes.{j}"
                if change.get("field") != "messages":
                    continue  # account, template and group updates are not conversation events
                value = field(change, "value", dict, where)
                for error in dicts(value, "errors", where):
                    log.warning("whatsapp reports error %s: %s", error.get("code"), error)
                number = str(
                    field(field(value, "metadata", dict, where), "phone_number_id", str, where)
                )
                connection = self._by_number.get(number)
                if connection is None or connection.app_secret.get_secret_value() != secret:
                    log.warning("whatsapp webhook for unknown phone_number_id %s ignored", number)
                    continue
                events += _value_events(value, number, f"{where}.value")
        return events


def _value_events(value: dict[str, Any], number: str, where: str) -> list[InboundEvent]:
    names = {
        c.get("wa_id"): c.get("profile", {}).get("name") for c in dicts(value, "contacts", where)
    }
    events: list[InboundEvent] = []
    for k, message in enumerate(dicts(value, "messages", where)):
        event = _message(message, number, names, f"{where}.messages.{k}")
        if event is not None:
            events.append(event)
    for k, status in enumerate(dicts(value, "statuses", where)):
        events.append(_status(status, number, f"{where}.statuses.{k}"))
    return events


def _message(
    msg: dict[str, Any], number: str, names: dict[Any, Any], where: str
) -> InboundEvent | None:
    kind = field(msg, "type", str, where)
    sender = field(msg, "from", str, where)
    mid = field(msg, "id", str, where)
    at = from_seconds(field(msg, "timestamp", str, where))
    body = obj(msg, kind)
    if kind == "reaction":
        return ChannelReaction(
            NAME, number, str(body.get("message_id")), sender, body.get("emoji") or "", at
        )
    if kind == "revoke":
        return ChannelDeletion(NAME, number, str(body.get("original_message_id")), sender, at)
    fields = _content(kind, body, msg, where)
    if fields is None:
        log.info("whatsapp message type %r ignored (%s)", kind, mid)  # unsupported, system, order
        return None
    context = obj(msg, "context")
    return ChannelMessage(
        NAME, number, mid, sender, sender, at,
        reply_to=context.get("id"), sender_name=names.get(sender), **fields,
    )  # fmt: skip


def _content(
    kind: str, body: dict[str, Any], msg: dict[str, Any], where: str
) -> dict[str, Any] | None:
    """The ChannelMessage fields a message type carries; None for types not answered."""
    if kind == "text":
        return {"text": body.get("body", "")}
    if kind in _MEDIA_KINDS:
        return {"text": body.get("caption") or "", "attachments": (_attachment(kind, body, where),)}
    if kind == "location":
        place = Location(
            float(body["latitude"]), float(body["longitude"]),
            body.get("name"), body.get("address"), body.get("url"),
        )  # fmt: skip
        return {"location": place}
    if kind == "contacts":
        return {"contacts": tuple(_contact(c) for c in dicts(msg, "contacts", where))}
    if kind == "interactive":
        reply = obj(body, str(body.get("type", "")))
        return {"text": reply.get("title", ""), "payload": reply.get("id")}
    if kind == "button":
        return {"text": body.get("text", ""), "payload": body.get("payload")}
    if kind == "edit":
        text = obj(obj(body, "message"), "text").get("body", "")
        return {"text": text, "edit_of": body.get("original_message_id")}
    return None


def _attachment(kind: str, body: dict[str, Any], where: str) -> Attachment:
    return Attachment(
        kind=kind,  # type: ignore[arg-type]  # one of _MEDIA_KINDS
        ref=str(field(body, "id", str, f"{where}.{kind}")),
        mime_type=body.get("mime_type"),
        filename=body.get("filename"),
        sha256=body.get("sha256"),
        voice=bool(body.get("voice", False)),
    )


def _contact(card: dict[str, Any]) -> Contact:
    name = card.get("name", {})
    phones = tuple(p.get("wa_id") or p.get("phone", "") for p in card.get("phones", []))
    return Contact(name.get("formatted_name") or name.get("first_name", ""), phones)


def _status(status: dict[str, Any], number: str, where: str) -> ChannelStatus:
    errors = dicts(status, "errors", where)
    first = errors[0] if errors else {}
    details = (first.get("error_data") or {}).get("details")
    return ChannelStatus(
        NAME, number,
        state=field(status, "status", str, where),
        recipient_id=str(status.get("recipient_id", "")),
        at=from_seconds(field(status, "timestamp", str, where)),
        message_id=field(status, "id", str, where),
        error_code=str(first["code"]) if "code" in first else None,
        error_message=details or first.get("message") or first.get("title"),
        tag=_optional_str(status.get("biz_opaque_callback_data")),
    )  # fmt: skip


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


class WhatsAppChannel:
    abilities = ABILITIES

    def __init__(
        self, connection: WhatsAppConnection, settings: Settings, http: httpx.AsyncClient
    ) -> None:
        self.connection = connection
        self._http = http
        self._root = f"{settings.graph_api_base.rstrip('/')}/{settings.graph_api_version}"
        self._auth = {"Authorization": f"Bearer {connection.access_token.get_secret_value()}"}

    async def _post(self, body: dict[str, Any]) -> tuple[SendResult, dict[str, Any]]:
        url = f"{self._root}/{self.connection.phone_number_id}/messages"
        try:
            response = await self._http.post(url, json=body, headers=self._auth)
        except httpx.HTTPError as err:
            return delivery.network_failure(err), {}
        return delivery.graph_outcome(response)

    async def send(self, chat_id: str, text: str, tag: str | None = None) -> SendResult:
        ids: list[str] = []
        for part in split_text(text, ABILITIES.max_text_len):
            body: dict[str, Any] = {
                "messaging_product": "whatsapp", "recipient_type": "individual", "to": chat_id,
                "type": "text", "text": {"body": to_whatsapp(part), "preview_url": False},
            }  # fmt: skip
            if tag is not None:
                body["biz_opaque_callback_data"] = tag[:CALLBACK_DATA_MAX]
            result, data = await self._post(body)
            if result.outcome != "sent":
                return SendResult(
                    result.outcome, tuple(ids), result.retry_after, result.code, result.error
                )
            ids += [str(m.get("id")) for m in data.get("messages", [])]
        return SendResult("sent", tuple(ids))

    async def send_image(
        self, chat_id: str, image: OutboundImage, tag: str | None = None
    ) -> SendResult:
        """Upload the file (``/{phone}/media``, multipart), then send it by its media id."""
        url = f"{self._root}/{self.connection.phone_number_id}/media"
        form = {"messaging_product": "whatsapp", "type": image.mime_type}
        name = "picture." + image.mime_type.rsplit("/", 1)[-1]
        try:
            response = await self._http.post(
                url, data=form, files={"file": (name, image.data, image.mime_type)},
                headers=self._auth,
            )  # fmt: skip
        except httpx.HTTPError as err:
            return delivery.network_failure(err)
        result, uploaded = delivery.graph_outcome(response)
        if result.outcome != "sent" or "id" not in uploaded:
            return result if result.outcome != "sent" else SendResult(
                "retryable", code="no_media_id", error="the media upload answered without an id"
            )  # fmt: skip
        picture: dict[str, Any] = {"id": str(uploaded["id"])}
        if image.caption:
            picture["caption"] = to_whatsapp(image.caption)[:1024]
        body: dict[str, Any] = {
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": chat_id,
            "type": "image", "image": picture,
        }  # fmt: skip
        if tag is not None:
            body["biz_opaque_callback_data"] = tag[:CALLBACK_DATA_MAX]
        result, data = await self._post(body)
        if result.outcome != "sent":
            return result
        return SendResult("sent", tuple(str(m.get("id")) for m in data.get("messages", [])))

    voice_format = "opus"

    async def send_voice(
        self, chat_id: str, audio: bytes, mime_type: str, duration_s: float, tag: str | None = None
    ) -> SendResult:
        """Upload the OGG/Opus file to the number's /media, then send it as a voice message."""
        return await self._send_upload(
            chat_id, "audio", {"voice": True}, ("reply.ogg", audio, mime_type), tag
        )

    video_format = "whatsapp"

    async def send_video(
        self, chat_id: str, video: bytes, mime_type: str, duration_s: float, tag: str | None = None
    ) -> SendResult:
        """Upload the MP4 to the number's /media, then send it as a video message."""
        return await self._send_upload(chat_id, "video", {}, ("reply.mp4", video, mime_type), tag)

    async def _send_upload(
        self, chat_id: str, kind: str, extra: dict[str, Any], file: tuple[str, bytes, str],
        tag: str | None,
    ) -> SendResult:  # fmt: skip
        url = f"{self._root}/{self.connection.phone_number_id}/media"
        form = {"messaging_product": "whatsapp", "type": file[2]}
        try:
            response = await self._http.post(
                url, data=form, files={"file": file}, headers=self._auth
            )
        except httpx.HTTPError as err:
            return delivery.network_failure(err)
        uploaded, data = delivery.graph_outcome(response)
        if uploaded.outcome != "sent" or not data.get("id"):
            return (
                uploaded
                if uploaded.outcome != "sent"
                else SendResult(
                    "retryable", code="no_media_id", error="the media upload returned no id"
                )
            )
        body: dict[str, Any] = {
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": chat_id,
            "type": kind, kind: {"id": str(data["id"]), **extra},
        }  # fmt: skip
        if tag is not None:
            body["biz_opaque_callback_data"] = tag[:CALLBACK_DATA_MAX]
        result, sent = await self._post(body)
        if result.outcome != "sent":
            return result
        return SendResult("sent", tuple(str(m.get("id")) for m in sent.get("messages", [])))

    async def send_template(self, chat_id: str, name: str, language: str) -> SendResult:
        """Send an approved template: what WhatsApp allows outside the 24-hour window."""
        body = {
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": chat_id,
            "type": "template", "template": {"name": name, "language": {"code": language}},
        }  # fmt: skip
        result, data = await self._post(body)
        if result.outcome != "sent":
            return result
        return SendResult("sent", tuple(str(m.get("id")) for m in data.get("messages", [])))

    async def acknowledge(self, chat_id: str, message_id: str | None) -> SendResult:
        if message_id is None:
            return SendResult("sent")  # WhatsApp shows typing only in answer to a message
        body = {
            "messaging_product": "whatsapp", "status": "read", "message_id": message_id,
            "typing_indicator": {"type": "text"},
        }  # fmt: skip
        return (await self._post(body))[0]

    async def check(self) -> AccountCheck:
        """GET the phone number: does the token work, and which number is it."""
        url = f"{self._root}/{self.connection.phone_number_id}"
        shown = {"id": "id", "verified_name": "name", "display_phone_number": "phone"}
        return await delivery.check_account(
            self._http, url, self._auth, delivery.graph_outcome, shown
        )

    async def fetch_media(self, attachment: Attachment) -> MediaFile:
        early = delivery.refuse_early(ABILITIES.media_types, attachment.mime_type, attachment.size)
        if early is not None:
            return early
        try:
            response = await self._http.get(f"{self._root}/{attachment.ref}", headers=self._auth)
        except httpx.HTTPError as err:
            return MediaFile("retryable", error=delivery.network_failure(err).error)
        result, info = delivery.graph_outcome(response)
        if result.outcome != "sent" or "url" not in info:
            return MediaFile(
                "permanent" if result.outcome == "sent" else result.outcome, error=result.error
            )
        size = int(info["file_size"]) if "file_size" in info else None
        early = delivery.refuse_early(ABILITIES.media_types, info.get("mime_type"), size)
        if early is not None:
            return early
        return await delivery.download(
            self._http, str(info["url"]), ABILITIES.media_types, info.get("mime_type"), self._auth
        )


async def check(
    connection: WhatsAppConnection, settings: Settings, http: httpx.AsyncClient
) -> AccountCheck:
    return await WhatsAppChannel(connection, settings, http).check()


SPEC = ChannelSpec(
    name=NAME,
    connection_model=WhatsAppConnection,
    abilities=ABILITIES,
    handler=WhatsAppWebhook,
    channel=WhatsAppChannel,
    check=check,
)


@hookimpl
def register_channels(register: RegisterChannel) -> None:
    register(SPEC)
