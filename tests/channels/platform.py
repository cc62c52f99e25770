"""A real HTTP server on loopback speaking the Graph API and the Telegram Bot API endpoints the
adapters use, with their exact request and reply shapes, including error replies.

It records every request (method, path, headers, JSON body) so tests assert exact send bodies,
and answers the next requests with canned failures when told to (``fail_next``).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import json
import re
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from typing import Any

GRAPH_VERSION = "v23.0"
WA_TOKEN = "wa-access-token"
PAGE_TOKEN = "page-access-token"
IG_TOKEN = "ig-access-token"
BOT_TOKEN = "123456:bot-token"
_GRAPH_TOKENS = {WA_TOKEN, PAGE_TOKEN, IG_TOKEN}
PHONE_ID = "106540352242922"
PAGE_ID = "106123456789012"
IG_ID = "17841400000000000"
# What an authenticated GET of a node answers, by (token, node): the credential checks.
ACCOUNTS: dict[tuple[str, str], dict[str, Any]] = {
    (WA_TOKEN, PHONE_ID): {
        "verified_name": "Ana Tutor", "code_verification_status": "VERIFIED",
        "display_phone_number": "+1 555-010-0000", "quality_rating": "GREEN",
        "platform_type": "CLOUD_API", "throughput": {"level": "STANDARD"}, "id": PHONE_ID,
    },
    (WA_TOKEN, "me"): {"name": "Personae System User", "id": "122100000000000001"},
    (PAGE_TOKEN, "me"): {"name": "Cooking Coach", "id": PAGE_ID},
    (PAGE_TOKEN, PAGE_ID): {"name": "Cooking Coach", "id": PAGE_ID},
    (IG_TOKEN, IG_ID): {"id": IG_ID, "username": "cooking.coach"},
}  # fmt: skip
BOT_INFO = {
    "id": 123456, "is_bot": True, "first_name": "Ana", "username": "ana_bot",
    "can_join_groups": True, "can_read_all_group_messages": False,
    "supports_inline_queries": False, "can_connect_to_business": False, "has_main_web_app": False,
}  # fmt: skip
Reply = tuple[int, dict[str, str], bytes]


def graph_error(status: int, code: int, message: str, **extra: Any) -> Reply:
    """A Graph API error reply, shaped like Meta's GraphAPIError."""
    error = {"message": message, "type": "OAuthException", "code": code, **extra}
    error.setdefault("fbtrace_id", "AXsgnV2Cm3ZMGF3dF_cfYIn")
    headers = {"Content-Type": "application/json"}
    if "retry_after" in extra:
        headers["Retry-After"] = str(error.pop("retry_after"))
    return status, headers, json.dumps({"error": error}).encode()


def telegram_error(status: int, description: str, retry_after: int | None = None) -> Reply:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float = 0.0  # time.monotonic() when the request arrived: pacing tests measure gaps


@dataclass
class PlatformServer:
    url: str = ""
    seen: list[Recorded] = field(default_factory=list)
    fail_next: list[Reply | str] = field(default_factory=list)  # "hang": never answer
    fail_only: str = ""  # when set, fail_next answers only requests to paths ending so
    media: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # id -> (mime, data)
    updates: list[dict[str, Any]] = field(default_factory=list)  # for getUpdates
    media_delay_s: float = 0.0  # how long a media download takes to start answering
    media_hold: asyncio.Event | None = None  # when set here, downloads wait until it is set
    # Approved WhatsApp templates, by (name, language code).
    templates: set[tuple[str, str]] = field(default_factory=lambda: {("hello_world", "en_US")})
    _counter: int = 0

    def sent(self, suffix: str) -> list[Any]:
        """JSON bodies of recorded requests whose path ends with ``suffix``."""
        return [r.body for r in self.seen if r.path.split("?")[0].endswith(suffix)]

    def _next_id(self) -> int:
        self._counter += 1
        return self._counter

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        except asyncio.IncompleteReadError:
            writer.close()
            return
        method, path, _ = head[0].split(" ", 2)
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:] if h)
        }
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("content-type", "").startswith("multipart/form-data"):
            # Both shapes: flat names, and {'fields', 'files'}.
            body: Any = {
                **multipart_fields(headers["content-type"], raw),
                **_multipart(headers["content-type"], raw),
            }
        else:
            body = json.loads(raw) if raw else None
        self.seen.append(Recorded(method, path, headers, body, time.monotonic()))
        if self.fail_next and path.split("?")[0].endswith(self.fail_only):
            canned = self.fail_next.pop(0)
            if canned == "hang":  # past the client's timeout; it gives up first
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.sleep(1.5)
                writer.close()
                return
            status, extra, payload = canned
        else:
            if self.media_delay_s and "media/" in path:
                await asyncio.sleep(self.media_delay_s)
            if self.media_hold is not None and "media/" in path:
                await self.media_hold.wait()
            status, extra, payload = self.answer(method, path.split("?")[0], headers, body)
        lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(payload)}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in extra.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        await writer.drain()
        writer.close()

    def answer(self, method: str, path: str, headers: dict[str, str], body: Any) -> Reply:
        if path.startswith("/bot") or path.startswith("/file/bot"):
            return self._telegram(path, body)
        if path.startswith("/cdn/"):  # Messenger/Instagram attachment URLs need no token
            return self._file(path.removeprefix("/cdn/"))
        token = headers.get("authorization", "").removeprefix("Bearer ")
        if token not in _GRAPH_TOKENS:
            return graph_error(401, 190, "Invalid OAuth access token.", error_subcode=463)
        if path.startswith("/wa-media/"):  # WhatsApp media URLs need the bearer token
            return self._file(path.removeprefix("/wa-media/"))
        match = re.fullmatch(rf"/{GRAPH_VERSION}/([^/]+)(/messages|/media)?", path)
        if match is None:
            return graph_error(404, 803, "Unknown path components")
        if match.group(2) == "/media" and method == "POST":  # WhatsApp media upload
            media_id = f"UPLOADED{self._next_id()}"
            _, mime, data = body["files"]["file"]
            self.media[media_id] = (mime, data)
            return _json({"id": media_id})
        if match.group(2) and method == "POST" and "files" in body:  # Messenger attachment upload
            recipient = json.loads(body["fields"]["recipient"])["id"]
            return _json({"recipient_id": recipient, "message_id": f"m_OUT{self._next_id()}",
                          "attachment_id": f"{self._next_id()}"})  # fmt: skip
        if match.group(2) and method == "POST":
            return self._graph_send(body)
        account = ACCOUNTS.get((token, match.group(1)))
        if account is not None and method == "GET":
            return _json(account)
        media = self.media.get(match.group(1))
        if media is None:
            return graph_error(
                400, 100,
                f"Unsupported get request. Object with ID '{match.group(1)}' does not exist, "
                "cannot be loaded due to missing permissions, or does not support this "
                "operation. Please read the Graph API documentation at "
                "https://developers.facebook.com/docs/graph-api",
                type="GraphMethodException", error_subcode=33,
            )  # fmt: skip
        mime, data = media
        info = {
            "messaging_product": "whatsapp",
            "url": f"{self.url}/wa-media/{match.group(1)}",
            "mime_type": mime,
            "sha256": "x",
            "file_size": str(len(data)),
            "id": match.group(1),
        }
        return _json(info)

    def _graph_send(self, body: dict[str, Any]) -> Reply:
        if body.get("messaging_product") == "whatsapp":
            if "status" in body:
                return _json({"success": True})
            if body.get("type") == "template":
                template = body.get("template") or {}
                known = (template.get("name"), (template.get("language") or {}).get("code"))
                if known not in self.templates:
                    return graph_error(
                        404, 132001, "(#132001) Template name does not exist in the translation",
                        error_data={"messaging_product": "whatsapp",
                                    "details": f"template name ({known[0]}) does not exist in "
                                    f"{known[1]}"},
                    )  # fmt: skip
            to = body["to"]
            wamid = f"wamid.OUT{self._next_id()}"
            return _json(
                {
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": to, "wa_id": to}],
                    "messages": [{"id": wamid}],
                }
            )
        if isinstance(body.get("recipient"), str):  # a multipart attachment upload
            body = {**body, "recipient": json.loads(body["recipient"])}
        recipient = body["recipient"]["id"]
        if "sender_action" in body:
            return _json({"recipient_id": recipient})
        return _json({"recipient_id": recipient, "message_id": f"m_OUT{self._next_id()}"})

    def _telegram(self, path: str, body: Any) -> Reply:
        if path.startswith(f"/file/bot{BOT_TOKEN}/"):
            return self._file(path.removeprefix(f"/file/bot{BOT_TOKEN}/"))
        prefix, _, method = path.rpartition("/")
        if prefix != f"/bot{BOT_TOKEN}":
            return telegram_error(401, "Unauthorized")
        if method == "sendMessage":
            message = {
                "message_id": self._next_id(),
                "date": 1701813600,
                "text": body["text"],
                "chat": {"id": int(body["chat_id"]), "type": "private"},
                "from": {"id": 123456, "is_bot": True, "first_name": "Persona"},
            }
            return _json({"ok": True, "result": message})
        if method == "sendPhoto":
            sizes = [{"file_id": "SENT_PHOTO", "file_unique_id": "s1", "width": 64, "height": 48}]
            message = {
                "message_id": self._next_id(), "date": 1701813600, "photo": sizes,
                "chat": {"id": int(body["chat_id"]), "type": "private"},
            }  # fmt: skip
            return _json({"ok": True, "result": message})
        if method == "sendVoice":  # multipart: chat_id, duration, the voice file
            fields = body["fields"]
            message = {
                "message_id": self._next_id(), "date": 1701813600,
                "chat": {"id": int(fields["chat_id"]), "type": "private"},
                "voice": {"duration": int(fields.get("duration", 0)), "mime_type": "audio/ogg",
                          "file_id": "AwACAgVoice", "file_unique_id": "AgADVoice",
                          "file_size": len(body["files"]["voice"][2])},
            }  # fmt: skip
            return _json({"ok": True, "result": message})
        if method == "sendVideoNote":  # multipart: chat_id, duration, length, the video file
            fields = body["fields"]
            if "video_note" not in body["files"] or "length" not in fields:
                return telegram_error(400, "Bad Request: there is no video note in the request")
            message = {
                "message_id": self._next_id(), "date": 1701813600,
                "chat": {"id": int(fields["chat_id"]), "type": "private"},
                "video_note": {"duration": int(fields.get("duration", 0)),
                               "length": int(fields["length"]), "file_id": "DQACAgNote",
                               "file_unique_id": "AgADNote",
                               "file_size": len(body["files"]["video_note"][2])},
            }  # fmt: skip
            return _json({"ok": True, "result": message})
        if method == "getMe":
            return _json({"ok": True, "result": BOT_INFO})
        if method == "sendChatAction":
            return _json({"ok": True, "result": True})
        if method == "getFile":
            _, data = self.media.get(body["file_id"], ("", b""))
            if not data:
                return telegram_error(400, "Bad Request: invalid file_id")
            result = {
                "file_id": body["file_id"],
                "file_unique_id": "u1",
                "file_size": len(data),
                "file_path": body["file_id"],
            }
            return _json({"ok": True, "result": result})
        if method == "getUpdates":
            offset = body.get("offset", 0)
            return _json(
                {"ok": True, "result": [u for u in self.updates if u["update_id"] >= offset]}
            )
        return telegram_error(404, "Not Found")

    def _file(self, key: str) -> Reply:
        media = self.media.get(key)
        if media is None:
            return 404, {}, b"not found"
        mime, data = media
        return 200, {"Content-Type": mime}, data


def _multipart(content_type: str, raw: bytes) -> dict[str, Any]:
    """A multipart/form-data body as {"fields": {name: text}, "files": {name: (filename,
    content_type, bytes)}}, parsed by the standard library's MIME parser."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    fields: dict[str, str] = {}
    files: dict[str, tuple[str | None, str, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True)
        if part.get_filename() is not None:
            files[str(name)] = (part.get_filename(), part.get_content_type(), data)
        else:
            fields[str(name)] = data.decode()
    return {"fields": fields, "files": files}


def _json(data: Any) -> Reply:
    return 200, {"Content-Type": "application/json"}, json.dumps(data).encode()


def multipart_fields(content_type: str, raw: bytes) -> dict[str, Any]:
    """A multipart/form-data body as {name: text} for fields and {name: (filename, type,
    bytes)} for files, parsed by the standard library's MIME parser."""
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        filename = part.get_filename()
        if filename is not None:
            fields[str(name)] = (filename, part.get_content_type(), payload)
        else:
            fields[str(name)] = payload.decode() if isinstance(payload, bytes) else payload
    return fields
