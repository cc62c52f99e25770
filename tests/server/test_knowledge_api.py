"""Knowledge bases through the API against a live server: an admin or the persona's creator
uploads, lists and deletes documents, a turn recalls their chunks (shown in its trace), and
attackers (no token, another creator, hostile sizes and encodings) get clear refusals with
nothing stored."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import httpx
import pytest

from personae.settings import Settings
from personae.stores.sql import SqlStore
from personae.stores.tokens import new_token

from .live import ADMIN_TOKEN, LiveServer, start_server, write_personas

MAX_BYTES = 20_000
GUIDE = (
    "# Lighthouse museum\n\nThe museum opens at nine and closes at five.\n\n"
    "## Tickets\n\nA ticket to the lighthouse costs seven euros; children go free.\n\n"
    "## Ferry\n\nThe ferry to Berlenga island leaves from the harbour at ten.\n"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("knowledge")
    settings = Settings(
        home=home, engine="scripted", admin_token=ADMIN_TOKEN, load_samples=False,
        personas_dir=write_personas(home / "personas"), knowledge_max_bytes=MAX_BYTES,
    )  # fmt: skip
    live = start_server(settings)
    yield live
    live.stop()


def _creator(server: LiveServer, *personas: str) -> str:
    token = new_token()

    async def make() -> None:
        store = await SqlStore.open(server.settings.resolved_database_url)
        try:
            await store.create_token("c", "creator", personas, token)
        finally:
            await store.aclose()

    asyncio.run(make())
    return token


def _as(server: LiveServer, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=60)


def _upload(client: httpx.Client, slug: str, name: str, data: bytes) -> httpx.Response:
    return client.post(f"/api/personas/{slug}/knowledge", params={"name": name}, content=data)


def _documents(server: LiveServer, slug: str) -> list[dict[str, object]]:
    listed = _as(server, ADMIN_TOKEN).get(f"/api/personas/{slug}/knowledge")
    assert listed.status_code == 200, listed.text
    return list(listed.json()["documents"])


def test_a_creator_uploads_a_document_and_a_turn_recalls_its_chunks(server: LiveServer) -> None:
    creator = _as(server, _creator(server, "echo-friend"))
    added = _upload(creator, "echo-friend", "guide.md", GUIDE.encode())
    assert added.status_code == 201, added.text
    doc = added.json()
    assert (doc["name"], doc["media_type"], doc["chunks"]) == ("guide.md", "text/markdown", 3)
    assert [d["id"] for d in _documents(server, "echo-friend")] == [doc["id"]]

    admin = _as(server, ADMIN_TOKEN)
    opened = admin.post("/api/conversations", json={"persona": "echo-friend", "user": "kim"})
    url = f"/api/conversations/{opened.json()['id']}/messages"
    sent = admin.post(url, json={"text": "How much is a ticket to the lighthouse?"})
    assert sent.status_code == 200, sent.text
    [note] = [c for c in sent.json()["trace"]["context"] if c["source"] == "knowledge"]
    chosen = [item for item, why in note["reasons"] if why.startswith("chosen")]
    assert chosen and chosen[0].startswith("guide.md #2: A ticket to the lighthouse"), note

    gone = creator.delete(f"/api/personas/echo-friend/knowledge/{doc['id']}")
    assert gone.status_code == 204
    assert _documents(server, "echo-friend") == []
    again = creator.delete(f"/api/personas/echo-friend/knowledge/{doc['id']}")
    assert again.status_code == 404 and "no knowledge document" in again.json()["error"]["message"]
    after = admin.post(url, json={"text": "How much is a ticket to the lighthouse?"}).json()
    assert not [c for c in after["trace"]["context"] if c["source"] == "knowledge"]


def test_no_token_or_another_creators_token_reaches_nothing(server: LiveServer) -> None:
    path = "/api/personas/echo-friend/knowledge"
    assert _upload(_as(server, None), "echo-friend", "a.md", b"hi").status_code == 401
    assert _as(server, None).get(path).status_code == 401
    assert _upload(_as(server, "pt_" + "A" * 43), "echo-friend", "a.md", b"hi").status_code == 401
    other = _as(server, _creator(server, "story-teller"))
    refused = _upload(other, "echo-friend", "a.md", b"hi")
    assert refused.status_code == 403 and "does not cover persona" in refused.text
    assert other.get(path).status_code == 403
    assert other.delete(f"{path}/1").status_code == 403
    missing = _upload(_as(server, ADMIN_TOKEN), "no-such-persona", "a.md", b"hi")
    assert missing.status_code == 404
    assert _documents(server, "echo-friend") == []


@pytest.mark.parametrize(
    ("name", "data", "status", "says"),
    [
        ("notes.md", b"caf\xe9", 400, "not valid UTF-8: byte 3"),
        ("notes.md", b"a\x00b", 400, "control character"),
        ("notes.md", b"", 400, "empty"),
        ("setup.exe", b"MZ\x90\x00", 400, "not a document type"),
        ("broken.pdf", b"%PDF-1.7\n1 0 obj <<", 400, "not a readable PDF"),
        ("big.md", b"x" * (MAX_BYTES + 1), 413, "PERSONAE_KNOWLEDGE_MAX_BYTES"),
    ],
)
def test_hostile_documents_are_refused_and_nothing_is_stored(
    server: LiveServer, name: str, data: bytes, status: int, says: str
) -> None:
    refused = _upload(_as(server, ADMIN_TOKEN), "story-teller", name, data)
    assert refused.status_code == status, refused.text
    assert says in refused.json()["error"]["message"]
    assert _documents(server, "story-teller") == []


def test_an_oversized_declared_length_is_refused_before_the_body_is_sent(
    server: LiveServer,
) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /api/personas/story-teller/knowledge?name=a.md HTTP/1.1\r\n"
            b"Host: 127.0.0.1\r\nAuthorization: Bearer " + ADMIN_TOKEN.encode() + b"\r\n"
            b"Content-Length: 900000000\r\n\r\n"
        )
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert _documents(server, "story-teller") == []


def test_the_upload_limit_does_not_widen_other_routes(server: LiveServer) -> None:
    big = {"persona": "echo-friend", "user": "x" * (Settings().max_body_bytes + 10)}
    refused = _as(server, ADMIN_TOKEN).post("/api/conversations", json=big)
    assert refused.status_code == 413
