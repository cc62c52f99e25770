"""Character Cards: V1/V2/V3 as JSON, PNG and CHARX; lossless round trips through the store;
bad input refused with a clear error and nothing written."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from personae.core.cards import read_card
from personae.core.charx import MAX_UNPACKED_BYTES
from personae.errors import CardInvalid, PersonaInvalid
from personae.runtime import Runtime
from personae.settings import Settings

from .cardfiles import BOOK, REAL_CARD, V1, V2, V3, b64, card_in, charx, png, text_chunks


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = Settings(home=tmp_path / "home", engine="scripted", load_samples=False)
    started = await Runtime.start(settings, warm=False, channels=False, resume=False)
    yield started
    await started.aclose()


async def roundtrip(runtime: Runtime, data: bytes, fmt: str, as_png: bool = False) -> bytes:
    record, _ = await runtime.import_card(data)
    return await runtime.export_card(record.persona.id, fmt, as_png)  # type: ignore[arg-type]


def test_a_v2_card_becomes_a_persona_with_lorebook_and_greetings() -> None:
    card = read_card(json.dumps(V2).encode())
    persona = card.persona
    assert (card.spec, card.container, persona.id, persona.name) == ("v2", "json", "marin", "Marin")
    assert persona.greeting == "Welcome to the harbor, {{user}}."
    assert persona.alternate_greetings == ("Ahoy!", "Back again?")
    assert persona.system_prompt == "{{original}} Be brief."
    assert persona.creator_notes == "Only for people." and persona.tags == ("sea", "calm")
    assert persona.extensions["x_unknown"] == {"nested": ["kept"]}
    lore = persona.lorebook
    assert lore is not None and (lore.scan_depth, lore.token_budget) == (3, 300)
    first, second = lore.entries
    # SillyTavern's use_regex: true on literal keys is not taken literally (cards.md 2.4).
    assert (first.position, first.depth, first.role, first.use_regex) == (
        "at_depth",
        2,
        "user",
        False,
    )
    assert first.priority == 5 and first.extensions["x_custom"] == {"deep": True}
    assert second.keys == ("/boat(s)?/i",)


async def test_json_round_trips_are_lossless(runtime: Runtime) -> None:
    assert json.loads(await roundtrip(runtime, json.dumps(V2).encode(), "v2")) == V2
    assert json.loads(await roundtrip(runtime, json.dumps(V3).encode(), "v3")) == V3
    as_v3 = json.loads(await roundtrip(runtime, json.dumps(V2).encode(), "v3"))
    assert as_v3["spec"] == "chara_card_v3" and as_v3["data"]["group_only_greetings"] == []
    assert (
        as_v3["data"]["character_book"]["entries"][0]["extensions"]
        == BOOK["entries"][0]["extensions"]
    )
    v1 = json.loads(await roundtrip(runtime, json.dumps(V1).encode(), "v2"))
    assert v1["spec"] == "chara_card_v2" and {k: v1["data"][k] for k in V1} == V1


async def test_png_round_trip_writes_both_chunks_and_keeps_the_picture(runtime: Runtime) -> None:
    source = png({"chara": b64(V2)})
    out = await roundtrip(runtime, source, "v2", as_png=True)
    assert set(text_chunks(out)) == {"chara", "ccv3"}
    assert card_in(out, "chara") == V2
    expected = json.loads(json.dumps(V2))
    expected.update(spec="chara_card_v3", spec_version="3.0")
    expected["data"]["group_only_greetings"] = []
    for entry in expected["data"]["character_book"]["entries"]:
        entry.setdefault("use_regex", False)
        entry.setdefault("constant", False)
    assert card_in(out, "ccv3") == expected
    assert b"IDAT" in out and source.split(b"tEXt")[0][:40] == out[:40]


def test_reading_a_png_prefers_ccv3() -> None:
    card = read_card(png({"chara": b64(V2), "ccv3": b64(V3)}))
    assert (
        card.spec == "v3" and card.persona.name == "Marin Three" and card.persona.nickname == "Mari"
    )


async def test_charx_round_trip_keeps_card_and_assets(runtime: Runtime) -> None:
    files = {"assets/icon/images/main.png": png({}), "assets/other/other/notes.txt": b"hi"}
    out = await roundtrip(runtime, charx(V3, files), "charx")
    with zipfile.ZipFile(io.BytesIO(out)) as archive:
        assert json.loads(archive.read("card.json")) == V3
        assert {n: archive.read(n) for n in files} == files


@pytest.fixture
def real_card() -> bytes:
    """Read from the shared data folder, never copied into the project."""
    return REAL_CARD.read_bytes()


async def test_the_real_sillytavern_card_imports_with_its_lorebook(
    runtime: Runtime, real_card: bytes
) -> None:
    data = real_card
    record, card = await runtime.import_card(data)
    persona = record.persona
    assert (persona.name, card.spec, card.container) == ("Seraphina", "v2", "png")
    assert persona.lorebook is not None and len(persona.lorebook.entries) >= 3
    assert any("eldoria" in e.keys for e in persona.lorebook.entries)
    assert persona.avatar and persona.avatar.endswith("/avatars/seraphina.png")
    out = await runtime.export_card(persona.id, "v2", True)
    assert card_in(out, "chara") == card_in(data, "chara")


async def test_an_edit_is_exported_and_the_rest_stays(runtime: Runtime) -> None:
    record, _ = await runtime.import_card(json.dumps(V2).encode())
    edited = record.persona.model_copy(update={"scenario": "A storm at the harbor."})
    await runtime.store.put_persona(edited)
    out = json.loads(await runtime.export_card("marin", "v2"))
    assert out["data"]["scenario"] == "A storm at the harbor."
    assert {k: v for k, v in out["data"].items() if k != "scenario"} == {
        k: v for k, v in V2["data"].items() if k != "scenario"
    }


async def test_a_persona_file_exports_as_a_card_and_comes_back(runtime: Runtime) -> None:
    from personae.core.personas import load_persona_dir
    from personae.runtime import samples_dir

    persona = next(p for p in load_persona_dir(samples_dir()) if p.id == "cooking-coach")
    await runtime.store.put_persona(persona)
    card = await runtime.export_card("cooking-coach", "v3")
    again = read_card(card, "cooking-coach").persona
    assert again.model_dump(exclude={"mes_example", "example_dialogues", "avatar"}) == (
        persona.model_dump(exclude={"mes_example", "example_dialogues", "avatar"})
    )


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def encrypted() -> bytes:
    """A CHARX whose card.json entry says it is encrypted (general purpose flag bit 0)."""
    data = bytearray(zip_of({"card.json": json.dumps(V2).encode()}))
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        data[at + offset] |= 1
    return bytes(data)


BAD_KEYS = {**V2, "data": {**V2["data"], "character_book": {"entries": [{"keys": "x"}]}}}

BAD: list[tuple[str, bytes, str]] = [
    ("bad base64", png({"chara": b"@@not base64@@"}), "not valid base64"),
    ("truncated png", png({"chara": b64(V2)})[:-30], "truncated"),
    ("no card chunk", png({"other": b"x"}), "no character card"),
    ("non-utf8 json", b'{"name": "\xff\xfe"}', "not UTF-8"),
    ("non-utf8 chunk", png({"chara": base64.b64encode(b"\xff{}")}), "not UTF-8"),
    ("wrong spec", json.dumps({**V2, "spec": "chara_card_v9"}).encode(), "unknown card spec"),
    ("missing spec", json.dumps({"data": V2["data"]}).encode(), "no 'spec'"),
    ("not json", b"hello", "not valid JSON"),
    ("bad keys", json.dumps(BAD_KEYS).encode(), "entries[0].keys"),
    ("traversal", charx(V2, {"../evil.txt": b"x"}), "not a plain relative path"),
    ("absolute", charx(V2, {"/etc/evil": b"x"}), "not a plain relative path"),
    ("no card.json", zip_of({"data.json": b"{}"}), "no card.json"),
    ("encrypted flag", encrypted(), "encrypted"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "data", "message"), BAD, ids=[b[0] for b in BAD])
async def test_bad_cards_are_refused_clearly_and_nothing_is_written(
    runtime: Runtime, name: str, data: bytes, message: str
) -> None:
    before = await runtime.store.list_personas(include_unpublished=True)
    with pytest.raises(CardInvalid) as err:
        await runtime.import_card(data)
    assert message in str(err.value)
    assert await runtime.store.list_personas(include_unpublished=True) == before
    assert not (runtime.settings.home / "avatars").exists()


async def test_a_zip_bomb_is_refused(runtime: Runtime) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("card.json", json.dumps(V2))
        archive.writestr("assets/other/other/bomb.bin", b"\0" * (MAX_UNPACKED_BYTES // 4))
    with pytest.raises(CardInvalid, match="zip bomb"):
        await runtime.import_card(buffer.getvalue())


async def test_a_card_whose_persona_is_invalid_lists_the_problem(runtime: Runtime) -> None:
    bad: dict[str, Any] = json.loads(json.dumps(V2))
    bad["data"]["character_book"]["entries"][0]["extensions"]["group_weight"] = "heavy"
    bad["data"]["tags"] = ["ok"]
    record, _ = await runtime.import_card(json.dumps(bad).encode())  # a bad extra is ignored
    assert record.persona.lorebook is not None
    with pytest.raises(PersonaInvalid):
        await runtime.import_card(json.dumps(V2).encode(), "Not A Slug")


async def test_an_imported_lorebook_activates_in_a_turn(runtime: Runtime, real_card: bytes) -> None:
    from personae.types import PersonRef, TurnFinished, TurnInput

    await runtime.import_card(real_card)
    turn = TurnInput(persona="seraphina", text="What is this forest?", person=PersonRef("api", "a"))
    [done] = [e async for e in runtime.turns.run(turn) if isinstance(e, TurnFinished)]
    chosen = [n for n in done.trace.context if n.source == "lore" and n.outcome == "chosen"]
    assert chosen and any("forest" in why for n in chosen for _, why in n.reasons)
    assert "lore" in [s.name for s in done.trace.sections]
