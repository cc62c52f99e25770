"""One harness per built-in channel: how to make its signed webhook requests and what its sends
look like on the wire, so a single contract suite runs against every adapter."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from personae.channels import instagram, messenger, telegram, whatsapp
from personae.channels.config import (
    InstagramConnection,
    MessengerConnection,
    TelegramConnection,
    WhatsAppConnection,
)
from personae.channels.webhook import sign
from personae.contracts import ChannelSpec
from personae.settings import Settings

from .platform import (
    BOT_TOKEN,
    GRAPH_VERSION,
    IG_ID,
    IG_TOKEN,
    PAGE_ID,
    PAGE_TOKEN,
    PHONE_ID,
    WA_TOKEN,
)

APP_SECRET = "meta-app-secret"
VERIFY_TOKEN = "meta-verify-token"
TG_SECRET = "tg-secret_1"
BOT = "ana-bot"
WA_USER = "16505551234"
PSID = "5275811702471834"
IGSID = "1234567890123456"
TG_CHAT = 5337000001


def meta_bytes(data: Any) -> bytes:
    """Serialised the way Meta sends it: non-ASCII as \\uXXXX and '/' as '\\/'."""
    return json.dumps(data).replace("/", "\\/").encode()


def wa_envelope(value: dict[str, Any], phone_id: str = PHONE_ID) -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_id},
        **value,
    }
    change = {"value": value, "field": "messages"}
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "419561257915477", "changes": [change]}],
    }


def wa_messages(*messages: dict[str, Any], phone_id: str = PHONE_ID) -> dict[str, Any]:
    contacts = [{"profile": {"name": "Sheena Nelson"}, "wa_id": WA_USER}]
    return wa_envelope({"contacts": contacts, "messages": list(messages)}, phone_id)


def fb_envelope(obj: str, account: str, *items: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": obj,
        "entry": [{"id": account, "time": 1458692752478, "messaging": list(items)}],
    }


@dataclass(frozen=True)
class Harness:
    name: str
    spec: ChannelSpec
    connection: Any
    sender: str
    send_suffix: str
    webhook_path: str
    meta: bool = True

    def settings(self, base: str) -> Settings:
        return Settings(
            graph_api_base=base, graph_api_version=GRAPH_VERSION, telegram_api_base=base
        )

    def text_update(self, text: str, mid: str, account: str | None = None) -> bytes:
        account = account or self.connection.key
        if self.name == "whatsapp":
            msg = {
                "from": WA_USER,
                "id": mid,
                "timestamp": "1749416383",
                "type": "text",
                "text": {"body": text},
            }
            return meta_bytes(wa_messages(msg, phone_id=account))
        if self.name == "telegram":
            chat = {"id": TG_CHAT, "first_name": "Ana", "type": "private"}
            sender = {"id": TG_CHAT, "is_bot": False, "first_name": "Ana"}
            msg = {
                "message_id": int(mid),
                "from": sender,
                "chat": chat,
                "date": 1701813510,
                "text": text,
            }
            return json.dumps({"update_id": 147759372, "message": msg}).encode()
        item = {
            "sender": {"id": self.sender},
            "recipient": {"id": account},
            "timestamp": 1458692752478,
            "message": {"mid": mid, "text": text},
        }
        return meta_bytes(
            fb_envelope("page" if self.name == "messenger" else "instagram", account, item)
        )

    def message_id(self, mid: str) -> str:
        return f"{TG_CHAT}:{mid}" if self.name == "telegram" else mid

    def headers(self, body: bytes, good: bool = True) -> dict[str, str]:
        if self.meta:
            return {"X-Hub-Signature-256": sign(body, APP_SECRET if good else "not-the-secret")}
        return {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET if good else "tg-secret_2"}

    def send_body(self, chat: str, text: str) -> dict[str, Any]:
        if self.name == "whatsapp":
            return {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": chat,
                "type": "text",
                "text": {"body": text, "preview_url": False},
            }
        if self.name == "telegram":
            return {"chat_id": chat, "text": text, "parse_mode": "HTML"}
        return {"recipient": {"id": chat}, "messaging_type": "RESPONSE", "message": {"text": text}}

    def ack_bodies(self, chat: str, mid: str) -> list[dict[str, Any]]:
        if self.name == "whatsapp":
            return [
                {
                    "messaging_product": "whatsapp",
                    "status": "read",
                    "message_id": mid,
                    "typing_indicator": {"type": "text"},
                }
            ]
        if self.name == "telegram":
            return [{"chat_id": chat, "action": "typing"}]
        return [{"recipient": {"id": chat}, "sender_action": a} for a in ("mark_seen", "typing_on")]


HARNESSES = [
    Harness(
        "whatsapp",
        whatsapp.SPEC,
        WhatsAppConnection(
            persona="spanish-tutor",
            phone_number_id=PHONE_ID,
            access_token=SecretStr(WA_TOKEN),
            app_secret=SecretStr(APP_SECRET),
            verify_token=SecretStr(VERIFY_TOKEN),
        ),
        WA_USER,
        f"/{GRAPH_VERSION}/{PHONE_ID}/messages",
        "/webhooks/whatsapp",
    ),
    Harness(
        "messenger",
        messenger.SPEC,
        MessengerConnection(
            persona="spanish-tutor",
            page_id=PAGE_ID,
            page_access_token=SecretStr(PAGE_TOKEN),
            app_secret=SecretStr(APP_SECRET),
            verify_token=SecretStr(VERIFY_TOKEN),
        ),
        PSID,
        f"/{GRAPH_VERSION}/{PAGE_ID}/messages",
        "/webhooks/messenger",
    ),
    Harness(
        "instagram",
        instagram.SPEC,
        InstagramConnection(
            persona="spanish-tutor",
            account_id=IG_ID,
            access_token=SecretStr(IG_TOKEN),
            app_secret=SecretStr(APP_SECRET),
            verify_token=SecretStr(VERIFY_TOKEN),
        ),
        IGSID,
        f"/{GRAPH_VERSION}/{IG_ID}/messages",
        "/webhooks/instagram",
    ),
    Harness(
        "telegram",
        telegram.SPEC,
        TelegramConnection(
            persona="spanish-tutor",
            name=BOT,
            bot_token=SecretStr(BOT_TOKEN),
            secret_token=SecretStr(TG_SECRET),
        ),
        str(TG_CHAT),
        "/sendMessage",
        f"/webhooks/telegram/{BOT}",
        meta=False,
    ),
]
