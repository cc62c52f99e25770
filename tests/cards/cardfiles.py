"""Card files built for the tests: V1/V2/V3 JSON, PNGs and CHARX archives, written with the
spec's exact shapes (cards.md section 2), plus the real SillyTavern card from shared data."""

from __future__ import annotations

import base64
import io
import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

REAL_CARD = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "cards" / "default_Seraphina.png"
)
if not REAL_CARD.exists():  # a worktree beside /work/main
    REAL_CARD = Path("/work/shared/data/cards/default_Seraphina.png")

V1: dict[str, Any] = {
    "name": "Old Timer",
    "description": "{{char}} remembers the old days.",
    "personality": "grumpy",
    "scenario": "A porch at dusk.",
    "first_mes": "Evening, {{user}}.",
    "mes_example": "<START>\n{{user}}: Hi\n{{char}}: Hmph.",
}

BOOK: dict[str, Any] = {
    "name": "Harbor lore",
    "scan_depth": 3,
    "token_budget": 300,
    "recursive_scanning": True,
    "extensions": {"x_tool": {"kept": [1, 2, 3]}},
    "entries": [
        {
            "id": 1,
            "keys": ["lighthouse"],
            "secondary_keys": [],
            "content": "The lighthouse is dark.",
            "extensions": {
                "x_custom": {"deep": True},
                "position": 4,
                "depth": 2,
                "role": 1,
                "selectiveLogic": 0,
                "probability": 100,
                "useProbability": True,
            },
            "enabled": True,
            "insertion_order": 10,
            "case_sensitive": False,
            "name": "LH",
            "priority": 5,
            "comment": "memo",
            "selective": False,
            "constant": False,
            "position": "before_char",
            "use_regex": True,
        },
        {
            "id": 2,
            "keys": ["/boat(s)?/i"],
            "content": "Boats leave at dawn.",
            "extensions": {},
            "enabled": True,
            "insertion_order": 20,
        },
    ],
}

V2: dict[str, Any] = {
    "spec": "chara_card_v2",
    "spec_version": "2.0",
    "data": {
        "name": "Marin",
        "description": "{{char}} keeps the harbor.",
        "personality": "calm",
        "scenario": "The harbor office.",
        "first_mes": "Welcome to the harbor, {{user}}.",
        "mes_example": "<START>\n{{user}}: Any boats?\n{{char}}: Two at dawn.",
        "creator_notes": "Only for people.",
        "system_prompt": "{{original}} Be brief.",
        "post_history_instructions": "Stay in the harbor.",
        "alternate_greetings": ["Ahoy!", "Back again?"],
        "character_book": BOOK,
        "tags": ["sea", "calm"],
        "creator": "tester",
        "character_version": "7",
        "extensions": {"talkativeness": "0.5", "depth_prompt": {"prompt": "x", "depth": 4},
                       "x_unknown": {"nested": ["kept"]}},
    },
    "x_top_level": "also kept",
}  # fmt: skip

V3: dict[str, Any] = {
    "spec": "chara_card_v3",
    "spec_version": "3.0",
    "data": {
        **json.loads(json.dumps(V2["data"])),
        "name": "Marin Three",
        "nickname": "Mari",
        "group_only_greetings": ["Hello, all."],
        "creator_notes_multilingual": {"fr": "Pour les gens."},
        "source": ["https://example.org/marin"],
        "creation_date": 1700000000,
        "modification_date": 1700000100,
        "assets": [{"type": "icon", "uri": "embeded://assets/icon/images/main.png",
                    "name": "main", "ext": "png"}],
    },
}  # fmt: skip
for _entry in V3["data"]["character_book"]["entries"]:
    _entry.setdefault("use_regex", False)
    _entry.setdefault("constant", False)


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(texts: dict[str, bytes]) -> bytes:
    """A 2x2 PNG written by hand, with these tEXt chunks (keyword -> text bytes)."""
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    pixels = zlib.compress((b"\0" + b"\xff\x00\x00" * 2) * 2)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
    for keyword, text in texts.items():
        body += chunk(b"tEXt", keyword.encode() + b"\0" + text)
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b"")


def b64(card: dict[str, Any]) -> bytes:
    return base64.b64encode(json.dumps(card, ensure_ascii=False).encode())


def charx(card: dict[str, Any], files: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("card.json", json.dumps(card))
        for name, data in (files or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def text_chunks(data: bytes) -> dict[str, bytes]:
    found, at = {}, 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        if kind == b"tEXt":
            key, _, text = body.partition(b"\0")
            found[key.decode()] = text
        at += 12 + length
    return found


def card_in(data: bytes, keyword: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.b64decode(text_chunks(data)[keyword]))
    return decoded
