"""Character Cards over the admin API, tried as an attacker would: no token, the API key
instead of the admin token, hostile bodies; a good card goes in and comes back unchanged."""

from __future__ import annotations

import io
import json
import zipfile

import httpx

from cards.cardfiles import REAL_CARD, V2, V3, b64, card_in, charx, png

from .live import API_KEY, LiveServer


def test_import_and_export_round_trip(admin: httpx.Client) -> None:
    created = admin.post("/api/cards", params={"id": "api-marin"}, content=json.dumps(V2))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["persona"]["id"] == "api-marin" and body["card"]["lorebook_entries"] == 2
    assert (body["card"]["spec"], body["card"]["container"]) == ("v2", "json")
    exported = admin.get("/api/personas/api-marin/card", params={"format": "v2"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith(
        "application/json"
    )
    assert exported.json() == V2
    as_png = admin.get("/api/personas/api-marin/card", params={"format": "v3", "png": "true"})
    assert as_png.headers["content-type"] == "image/png"
    assert card_in(as_png.content, "chara") == V2
    assert card_in(as_png.content, "ccv3")["spec"] == "chara_card_v3"
    zipped = admin.get("/api/personas/api-marin/card", params={"format": "charx"})
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
        assert json.loads(archive.read("card.json"))["data"]["name"] == "Marin"


def test_the_real_card_imports_over_the_api(admin: httpx.Client) -> None:
    response = admin.post("/api/cards", params={"id": "api-sera"}, content=REAL_CARD.read_bytes())
    assert response.status_code == 201, response.text
    assert response.json()["card"]["lorebook_entries"] >= 3


def test_an_existing_id_is_refused_unless_replaced(admin: httpx.Client) -> None:
    first = admin.post("/api/cards", params={"id": "api-twice"}, content=json.dumps(V3))
    assert first.status_code == 201
    again = admin.post("/api/cards", params={"id": "api-twice"}, content=json.dumps(V3))
    assert again.status_code == 400 and "replace=true" in again.json()["error"]["message"]
    replaced = admin.post(
        "/api/cards", params={"id": "api-twice", "replace": "true"}, content=json.dumps(V3)
    )
    assert replaced.status_code == 201 and replaced.json()["revision"] == 1


def test_without_the_admin_token_nothing_is_imported_or_exported(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url, timeout=30) as anonymous:
        assert anonymous.post("/api/cards", content=json.dumps(V2)).status_code == 401
        assert anonymous.get("/api/personas/cooking-coach/card").status_code == 401
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=live.url, timeout=30, headers=headers) as client:
        assert client.post("/api/cards", content=json.dumps(V2)).status_code == 401
        assert client.get("/api/personas/cooking-coach/card").status_code == 401


def test_hostile_cards_get_a_clear_400_and_nothing_is_stored(admin: httpx.Client) -> None:
    before = admin.get("/api/personas").json()
    hostile = [
        (png({"chara": b"!!!"}), "base64"),
        (png({"chara": b64(V2)})[:-20], "truncated"),
        (b'{"spec": "chara_card_v2", "data": {"name": "\xff"}}', "UTF-8"),
        (json.dumps({**V2, "spec": "nope"}).encode(), "unknown card spec"),
        (charx(V2, {"../../escape.txt": b"x"}), "relative path"),
        (b"", "empty"),
    ]
    for data, message in hostile:
        response = admin.post("/api/cards", content=data)
        assert response.status_code == 400, (message, response.text)
        assert message in response.json()["error"]["message"]
    assert admin.get("/api/personas").json() == before


def test_exporting_an_unknown_persona_is_404(admin: httpx.Client) -> None:
    assert admin.get("/api/personas/no-such-one/card").status_code == 404
    bad = admin.get("/api/personas/cooking-coach/card", params={"format": "v9"})
    assert bad.status_code == 400
