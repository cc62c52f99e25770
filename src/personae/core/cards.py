"""Character Cards V1/V2/V3 <-> personas, as JSON, PNG (tEXt ``chara``/``ccv3``) or CHARX.

Import keeps the card as it came; export starts from it and writes only the fields whose
persona value changed since the import, so an import -> export round trip gives back every
field, unknown ``extensions`` and lorebook entry extensions included (cards.md section 2).
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from personae.core.charx import is_zip, read_charx, write_charx
from personae.core.personas import validate_persona_data
from personae.core.png import (
    CARD_KEYWORDS,
    SIGNATURE,
    blank_png,
    read_chunks,
    text_chunks,
    with_text,
    without_cards,
)
from personae.errors import CardInvalid
from personae.types import SLUG_PATTERN, CardFormat, CardRecord, Lorebook, LoreEntry, Persona

V2, V3 = "chara_card_v2", "chara_card_v3"
PERSONAE_KEY = "personae"  # data.extensions key for persona fields no card field holds
_EXTRAS = (
    "tagline", "style", "boundaries", "model", "memory", "published", "prompt_template", "safety",
    "tests",
)  # fmt: skip
_LOGIC = ["and_any", "not_all", "not_any", "and_all"]  # SillyTavern's selectiveLogic 0..3
_ROLES = ["system", "user", "assistant"]  # SillyTavern's role 0..2
_ST_ENTRY_KEYS = {"selectiveLogic", "useProbability", "displayIndex", "display_index"}


@dataclass(frozen=True, slots=True)
class ImportedCard:
    persona: Persona
    record: CardRecord
    spec: str  # "v1", "v2" or "v3"
    container: str  # "json", "png" or "charx"
    warnings: tuple[str, ...] = ()


# ---------------------------------------------------------------- reading


def read_card(data: bytes, slug: str | None = None) -> ImportedCard:
    """Any card file (JSON, PNG, CHARX) as a persona; raises CardInvalid or PersonaInvalid."""
    image: bytes | None = None
    assets: tuple[tuple[str, bytes], ...] = ()
    if data.startswith(SIGNATURE):
        container = "png"
        chunks = read_chunks(data)
        texts = text_chunks(chunks)
        keyword = next((k for k in CARD_KEYWORDS if k in texts), None)
        if keyword is None:
            raise CardInvalid(
                "the PNG holds no character card (no tEXt chunk 'chara' or 'ccv3'); "
                "export the card as PNG from its editor, or import its JSON"
            )
        text = _unbase64(texts[keyword], keyword)
        image = without_cards(data)
    elif is_zip(data):
        container = "charx"
        charx = read_charx(data)
        text, assets = _utf8(charx.card, "card.json"), charx.files
    else:
        container = "json"
        text = _utf8(data, "the card file")
    card = _json(text)
    spec, fields, warnings = _card_fields(card)
    persona = card_persona(fields, slug)
    record = CardRecord(json.dumps(card, ensure_ascii=False), persona, image, assets)
    return ImportedCard(persona, record, spec, container, warnings)


def _unbase64(raw: bytes, keyword: str) -> str:
    try:
        decoded = base64.b64decode(b"".join(raw.split()), validate=True)
    except (binascii.Error, ValueError):
        raise CardInvalid(
            f"the PNG's {keyword!r} chunk is not valid base64; the card is damaged, export it again"
        ) from None
    return _utf8(decoded, f"the PNG's {keyword!r} chunk")


def _utf8(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise CardInvalid(
            f"{what} is not UTF-8 text (bad byte at {err.start}); save it as UTF-8"
        ) from None


def _json(text: str) -> dict[str, Any]:
    try:
        card = json.loads(text)
    except RecursionError:
        raise CardInvalid("the card JSON is nested too deeply") from None
    except json.JSONDecodeError as err:
        raise CardInvalid(
            f"the card is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})"
        ) from None
    if not isinstance(card, dict):
        raise CardInvalid(f"the card JSON is a {type(card).__name__}, not an object")
    return card


def _card_fields(card: dict[str, Any]) -> tuple[str, dict[str, Any], tuple[str, ...]]:
    """The card's spec, its data object (checked), and warnings."""
    spec = card.get("spec")
    warnings: list[str] = []
    if spec is None:
        if not isinstance(card.get("name"), str) or "first_mes" not in card:
            raise CardInvalid(
                "the card has no 'spec' and is not a V1 card either (V1 needs name, "
                "description, personality, scenario, first_mes, mes_example); "
                f"expected spec {V2!r} or {V3!r}"
            )
        data, version = card, "v1"
    elif spec in (V2, V3):
        found = card.get("data")
        if not isinstance(found, dict):
            raise CardInvalid(f"a {spec} card needs a 'data' object; this one has none")
        data, version = found, "v3"
        version = "v2" if spec == V2 else "v3"
        number = card.get("spec_version")
        try:
            newer = float(number) >= (3.1 if spec == V3 else 2.1)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            newer = False
        if newer:
            warnings.append(f"spec_version {number} is newer than personae reads; imported anyway")
    else:
        raise CardInvalid(f"unknown card spec {spec!r}; expected {V2!r} or {V3!r}")
    _check(data, "data" if data is not card else "")
    return version, data, tuple(warnings)


_STRINGS = (
    "name", "description", "personality", "scenario", "first_mes", "mes_example",
    "creator_notes", "system_prompt", "post_history_instructions", "creator",
    "character_version", "nickname",
)  # fmt: skip
_LISTS = ("alternate_greetings", "tags", "group_only_greetings")


def _check(data: dict[str, Any], where: str) -> None:
    prefix = f"{where}." if where else ""
    for key in _STRINGS:
        if key in data and data[key] is not None and not isinstance(data[key], str):
            raise CardInvalid(f"{prefix}{key} must be text, not {type(data[key]).__name__}")
    for key in _LISTS:
        value = data.get(key)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            raise CardInvalid(f"{prefix}{key} must be a list of texts")
    if not (data.get("name") or "").strip():
        raise CardInvalid(f"{prefix}name is missing or empty; a card needs its character's name")
    if "extensions" in data and not isinstance(data["extensions"], dict):
        raise CardInvalid(f"{prefix}extensions must be an object")
    book = data.get("character_book")
    if book is not None:
        if not isinstance(book, dict) or not isinstance(book.get("entries", []), list):
            raise CardInvalid(f"{prefix}character_book must be an object with an entries list")
        for number, entry in enumerate(book.get("entries", [])):
            at = f"{prefix}character_book.entries[{number}]"
            if not isinstance(entry, dict):
                raise CardInvalid(f"{at} must be an object")
            for key in ("keys", "secondary_keys"):
                value = entry.get(key)
                if value is not None and not (
                    isinstance(value, list) and all(isinstance(v, str) for v in value)
                ):
                    raise CardInvalid(f"{at}.{key} must be a list of texts")
            if not isinstance(entry.get("content", ""), str):
                raise CardInvalid(f"{at}.content must be text")


# ---------------------------------------------------------------- card -> persona


def slug_for(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64].strip("-")
    if re.fullmatch(SLUG_PATTERN, slug):
        return slug
    return "card-" + hashlib.sha256(name.encode()).hexdigest()[:8]


def card_persona(data: dict[str, Any], slug: str | None = None) -> Persona:
    name = str(data["name"]).strip()
    greetings = [g for g in data.get("alternate_greetings") or [] if g.strip()]
    extensions = copy.deepcopy(data.get("extensions") or {})
    extras = extensions.pop(PERSONAE_KEY, None)
    fields: dict[str, Any] = {
        "id": slug or slug_for(name),
        "name": name[:80],
        "description": data.get("description") or "",
        "personality": data.get("personality") or "",
        "scenario": data.get("scenario") or "",
        "greeting": ((data.get("first_mes") or "").strip() and data["first_mes"])
        or (greetings[0] if greetings else f"Hello, I'm {name[:80]}."),
        "alternate_greetings": data.get("alternate_greetings") or [],
        "mes_example": data.get("mes_example") or "",
        "creator_notes": data.get("creator_notes") or "",
        "system_prompt": data.get("system_prompt") or "",
        "post_history_instructions": data.get("post_history_instructions") or "",
        "creator": data.get("creator") or "",
        "tags": data.get("tags") or [],
        "nickname": data.get("nickname") or "",
        "extensions": extensions,
    }
    if data.get("character_version"):
        fields["version"] = data["character_version"]
    if isinstance(extras, dict):
        fields.update({k: v for k, v in extras.items() if k in _EXTRAS})
    if isinstance(data.get("character_book"), dict):
        fields["lorebook"] = _book(data["character_book"])
    return validate_persona_data(fields, f"card {name!r}")


def _book(book: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": _text(book.get("name")),
        "description": _text(book.get("description")),
        "extensions": copy.deepcopy(book.get("extensions") or {}),
        "entries": [_entry(e) for e in book.get("entries", [])],
    }
    if isinstance(book.get("scan_depth"), int | float):
        out["scan_depth"] = _clamp(book["scan_depth"], 0, 1000)
    if isinstance(book.get("token_budget"), int | float) and book["token_budget"] > 0:
        out["token_budget"] = int(book["token_budget"])
    if isinstance(book.get("recursive_scanning"), bool):
        out["recursive_scanning"] = book["recursive_scanning"]
    return out


def _entry(entry: dict[str, Any]) -> dict[str, Any]:
    found = entry.get("extensions")
    ext: dict[str, Any] = found if isinstance(found, dict) else {}
    st = bool(_ST_ENTRY_KEYS & ext.keys())
    position = "after_char" if entry.get("position") == "after_char" else "before_char"
    if ext.get("position") == 4:
        position = "at_depth"
    elif ext.get("position") in (0, 1):
        position = ["before_char", "after_char"][ext["position"]]
    out: dict[str, Any] = {
        "id": entry.get("id") if isinstance(entry.get("id"), int | str) else None,
        "keys": entry.get("keys") or [],
        "secondary_keys": entry.get("secondary_keys") or [],
        "content": entry.get("content") or "",
        "enabled": entry.get("enabled", True) is not False,
        "constant": bool(entry.get("constant")),
        # SillyTavern writes use_regex: true for every entry while its keys are literal
        # (cards.md 2.4): its own /regex/ keys are still read as regular expressions.
        "use_regex": bool(entry.get("use_regex")) and not st,
        "selective": entry.get("selective", True) is not False,
        "insertion_order": _int(entry.get("insertion_order"), 100),
        "priority": _int(entry.get("priority"), None),
        "position": position,
        "name": _text(entry.get("name")),
        "comment": _text(entry.get("comment")),
        "extensions": copy.deepcopy(ext),
    }
    if isinstance(entry.get("case_sensitive"), bool):
        out["case_sensitive"] = entry["case_sensitive"]
    flags = (
        "case_sensitive", "match_whole_words", "exclude_recursion", "prevent_recursion",
        "group_override",
    )  # fmt: skip
    for key in flags:
        if isinstance(ext.get(key), bool):
            out[key] = ext[key]
    if isinstance(ext.get("selectiveLogic"), int) and 0 <= ext["selectiveLogic"] < 4:
        out["selective_logic"] = _LOGIC[ext["selectiveLogic"]]
    if isinstance(ext.get("role"), int) and 0 <= ext["role"] < 3:
        out["role"] = _ROLES[ext["role"]]
    numbers = {
        "depth": (0, 1000), "scan_depth": (0, 1000), "group_weight": (1, 10**6),
        "sticky": (0, 10**6), "cooldown": (0, 10**6), "delay": (0, 10**6),
        "delay_until_recursion": (0, 100),
    }  # fmt: skip
    for key, (low, high) in numbers.items():
        value = ext.get(key)
        if isinstance(value, bool) and key == "delay_until_recursion":
            out[key] = int(value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = _clamp(value, low, high)
    if isinstance(ext.get("probability"), int | float) and ext.get("useProbability", True):
        out["probability"] = _clamp(ext["probability"], 0, 100)
    if isinstance(ext.get("group"), str):
        out["group"] = ext["group"]
    return out


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _int(value: object, default: int | None) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _clamp(value: float, low: int, high: int) -> int:
    return max(low, min(high, int(value)))


# ---------------------------------------------------------------- persona -> card


def _examples(persona: Persona) -> str:
    if persona.mes_example or not persona.example_dialogues:
        return persona.mes_example
    blocks = []
    for dialogue in persona.example_dialogues:
        lines = ["<START>"]
        for exchange in dialogue:
            lines += [f"{{{{user}}}}: {exchange.user}", f"{{{{char}}}}: {exchange.persona}"]
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def _extensions(persona: Persona) -> dict[str, Any]:
    out = copy.deepcopy(persona.extensions)
    defaults = Persona(id="x-x", name="x", greeting="x")
    extras = {
        key: getattr(persona, key)
        for key in _EXTRAS
        if getattr(persona, key) != getattr(defaults, key)
    }
    if extras:
        out[PERSONAE_KEY] = json.loads(
            json.dumps({k: _plain(v) for k, v in extras.items()}, ensure_ascii=False)
        )
    return out


def _plain(value: object) -> object:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    dump = getattr(value, "model_dump", None)
    return dump(mode="json") if dump is not None else value


def book_card(book: Lorebook) -> dict[str, Any]:
    return {
        "name": book.name,
        "description": book.description,
        "scan_depth": book.scan_depth,
        "token_budget": book.token_budget,
        "recursive_scanning": book.recursive_scanning,
        "extensions": copy.deepcopy(book.extensions),
        "entries": [_entry_card(e, n) for n, e in enumerate(book.entries)],
    }


def _entry_card(entry: LoreEntry, number: int) -> dict[str, Any]:
    ext = copy.deepcopy(entry.extensions)
    ext.update(
        position={"before_char": 0, "after_char": 1, "at_depth": 4}[entry.position],
        depth=entry.depth, role=_ROLES.index(entry.role),
        selectiveLogic=_LOGIC.index(entry.selective_logic),
        probability=entry.probability, useProbability=True, group=entry.group,
        group_override=entry.group_override, group_weight=entry.group_weight,
        sticky=entry.sticky, cooldown=entry.cooldown, delay=entry.delay,
        exclude_recursion=entry.exclude_recursion, prevent_recursion=entry.prevent_recursion,
        delay_until_recursion=entry.delay_until_recursion,
    )  # fmt: skip
    if entry.scan_depth is not None:
        ext["scan_depth"] = entry.scan_depth
    if entry.match_whole_words is not None:
        ext["match_whole_words"] = entry.match_whole_words
    out: dict[str, Any] = {
        "id": entry.id if entry.id is not None else number,
        "keys": list(entry.keys),
        "secondary_keys": list(entry.secondary_keys),
        "content": entry.content,
        "enabled": entry.enabled,
        "insertion_order": entry.insertion_order,
        "use_regex": entry.use_regex,
        "constant": entry.constant,
        "selective": entry.selective,
        "name": entry.name,
        "comment": entry.comment,
        "position": "after_char" if entry.position == "after_char" else "before_char",
        "extensions": ext,
    }
    if entry.priority is not None:
        out["priority"] = entry.priority
    if entry.case_sensitive is not None:
        out["case_sensitive"] = entry.case_sensitive
    return out


_FIELDS: tuple[tuple[str, Callable[[Persona], Any]], ...] = (
    ("name", lambda p: p.name),
    ("description", lambda p: p.description),
    ("personality", lambda p: p.personality),
    ("scenario", lambda p: p.scenario),
    ("first_mes", lambda p: p.greeting),
    ("mes_example", _examples),
    ("creator_notes", lambda p: p.creator_notes),
    ("system_prompt", lambda p: p.system_prompt),
    ("post_history_instructions", lambda p: p.post_history_instructions),
    ("alternate_greetings", lambda p: list(p.alternate_greetings)),
    ("tags", lambda p: list(p.tags)),
    ("creator", lambda p: p.creator),
    ("character_version", lambda p: p.version),
    ("extensions", _extensions),
    ("character_book", lambda p: book_card(p.lorebook) if p.lorebook else None),
    ("nickname", lambda p: p.nickname or None),
)


def card_object(persona: Persona, stored: CardRecord | None, spec: str) -> dict[str, Any]:
    """The card of ``persona`` as V2 or V3 JSON (``spec`` "v2" or "v3")."""
    original = json.loads(stored.card) if stored else {}
    if "spec" in original:
        card = copy.deepcopy(original)
        data = card.setdefault("data", {})
    else:  # V1 (flat) or a persona never imported
        data = copy.deepcopy(original)
        card = {"data": data}
    for key, value_of in _FIELDS:
        value = value_of(persona)
        if stored is not None and key in data and value == value_of(stored.imported):
            continue  # unchanged since the import: the original stays as it was
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    if spec == "v3":
        card.update(spec=V3, spec_version="3.0")
        data.setdefault("group_only_greetings", [])
        for entry in (data.get("character_book") or {}).get("entries", []):
            entry.setdefault("use_regex", False)
            entry.setdefault("constant", False)
    else:
        card.update(spec=V2, spec_version="2.0")
    return {"spec": card.pop("spec"), "spec_version": card.pop("spec_version"), **card}


def export_card(
    persona: Persona,
    stored: CardRecord | None,
    fmt: CardFormat,
    png: bool = False,
    image: bytes | None = None,
) -> bytes:
    """The card file: JSON (``v2``/``v3``), a PNG with both ``chara`` (V2) and ``ccv3`` (V3)
    chunks, or a CHARX. ``image`` is the picture for a PNG when the card brought none."""
    if fmt == "charx":
        card = card_object(persona, stored, "v3")
        body = json.dumps(card, ensure_ascii=False, indent=2).encode()
        return write_charx(body, stored.assets if stored else ())
    card = card_object(persona, stored, fmt)
    if not png:
        return json.dumps(card, ensure_ascii=False, indent=2).encode()
    picture = (stored.image if stored else None) or image or blank_png()
    texts = {
        "chara": _b64(card_object(persona, stored, "v2")),
        "ccv3": _b64(card_object(persona, stored, "v3")),
    }
    return with_text(picture, texts)


def _b64(card: dict[str, Any]) -> bytes:
    return base64.b64encode(json.dumps(card, ensure_ascii=False).encode())
