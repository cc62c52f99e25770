"""Admin and creator tokens against a live server, tried the way an attacker would: no token,
a wrong one, a revoked one, the stored digest instead of the token, a creator reaching another
creator's persona, and hostile header sizes and encodings."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from personae.settings import Settings
from personae.stores.sql import SqlStore
from personae.stores.tokens import digest, new_token

from .live import ADMIN_TOKEN, LiveServer, start_server, write_personas
from .rawhttp import connect, read_answer

T = TypeVar("T")
PERSONA = {"id": "{slug}", "name": "Mia", "greeting": "Hi", "published": False}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("roles")
    settings = Settings(
        home=home, engine="scripted", admin_token=ADMIN_TOKEN, load_samples=False,
        personas_dir=write_personas(home / "personas"),
    )  # fmt: skip
    live = start_server(settings)
    yield live
    live.stop()


def _store(settings: Settings, work: Callable[[SqlStore], Awaitable[T]]) -> T:
    """Another process's view of the server's database: tokens made there count here."""

    async def run() -> T:
        store = await SqlStore.open(settings.resolved_database_url)
        try:
            return await work(store)
        finally:
            await store.aclose()

    return asyncio.run(run())


def _token(server: LiveServer, role: str, *personas: str) -> tuple[str, str]:
    token = new_token()
    record = _store(server.settings, lambda s: s.create_token("t", role, personas, token))
    return token, record.id


def _as(server: LiveServer, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=30)


def _persona(slug: str) -> dict[str, object]:
    return {**PERSONA, "id": slug}


STAFF_ROUTES = [
    ("POST", "/api/personas"),
    ("PUT", "/api/personas/echo-friend"),
    ("DELETE", "/api/personas/echo-friend"),
    ("GET", "/api/personas/echo-friend/revisions"),
    ("GET", "/api/conversations"),
    ("GET", "/api/conversations/0123"),
    ("GET", "/api/channels"),
    ("GET", "/api/blocklist"),
    ("GET", "/api/people/0123/export"),
    ("DELETE", "/api/people/0123"),
]


@pytest.mark.parametrize("token", [None, "wrong", "pt_" + "A" * 43, "Bearer", "x" * 600])
def test_every_staff_endpoint_refuses_a_missing_or_wrong_token(
    server: LiveServer, token: str | None
) -> None:
    with _as(server, token) as http:
        for method, path in STAFF_ROUTES:
            answer = http.request(method, path, json=_persona("nope"))
            assert answer.status_code == 401, (method, path, answer.text)
            assert "token" in answer.json()["error"]["message"]


def test_a_revoked_token_stops_working_at_once_and_its_digest_is_no_token(
    server: LiveServer,
) -> None:
    token, token_id = _token(server, "admin")
    with _as(server, token) as http:
        assert http.get("/api/blocklist").status_code == 200
    with _as(server, digest(token)) as http:  # what a leaked database would give away
        assert http.get("/api/blocklist").status_code == 401
    _store(server.settings, lambda s: s.revoke_token(token_id))
    with _as(server, token) as http:
        assert http.get("/api/blocklist").status_code == 401


def test_a_creator_manages_their_personas_and_nothing_else(server: LiveServer) -> None:
    mine, theirs = f"mine-{time.time_ns()}", f"theirs-{time.time_ns()}"
    alice, _ = _token(server, "creator", mine)
    bob, _ = _token(server, "creator", theirs)
    with _as(server, alice) as a, _as(server, bob) as b:
        assert a.post("/api/personas", json=_persona(mine)).status_code == 201
        assert b.post("/api/personas", json=_persona(theirs)).status_code == 201
        # Bob cannot create, change, delete or read Alice's persona, nor one of the admin's.
        assert b.post("/api/personas", json=_persona("echo-friend")).status_code == 403
        assert b.put(f"/api/personas/{mine}", json=_persona(mine)).status_code == 403
        assert b.delete(f"/api/personas/{mine}").status_code == 403
        assert b.get(f"/api/personas/{mine}/revisions").status_code == 403
        assert b.get(f"/api/personas/{mine}").status_code == 404  # unpublished: not there
        listed = {p["persona"]["id"] for p in b.get("/api/personas").json()["personas"]}
        assert theirs in listed and mine not in listed
        assert b.get("/api/conversations", params={"persona": mine}).status_code == 403
        assert b.get("/api/conversations").status_code == 400  # must name one of theirs
        assert b.get("/api/conversations", params={"persona": theirs}).status_code == 200
        # Admin-only: the blocklist and people's data.
        assert b.get("/api/blocklist").status_code == 403
        assert b.delete("/api/people/0123").status_code == 403
        # A channel connection answering as Alice's persona is not Bob's to add.
        hook = {"kind": "telegram", "persona": mine, "bot_token": "1:x", "secret_token": "s"}
        assert b.post("/api/channels", json=hook).status_code == 403
        assert a.put(f"/api/personas/{mine}", json=_persona(mine)).status_code == 200
    # The admin's conversation with Alice's persona: Alice may read it, Bob may not.
    with _as(server, ADMIN_TOKEN) as admin:
        opened = admin.post("/api/conversations", json={"persona": mine, "user": "u1"})
        assert opened.status_code == 201, opened.text
        conversation = opened.json()["id"]
    with _as(server, alice) as a, _as(server, bob) as b:
        assert a.get(f"/api/conversations/{conversation}").status_code == 200
        assert b.get(f"/api/conversations/{conversation}").status_code == 404


def _raw_get(url: str, path: str, header: bytes) -> int:
    sock = connect(url)
    try:
        sock.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + header
                     + b"\r\nConnection: close\r\n\r\n")  # fmt: skip
        return read_answer(sock, time.monotonic()).status
    finally:
        sock.close()


@pytest.mark.parametrize(
    "header",
    [
        b"Authorization: Bearer \xff\xfe\xc3\x28" + ADMIN_TOKEN.encode(),  # not UTF-8
        b"Authorization: Bearer " + ADMIN_TOKEN.encode() + b"\xe2\x80\x8b",  # zero-width space
        b"Authorization: bearer\t" + ADMIN_TOKEN.encode() + b"x",
        b"Authorization: Bearer " + b"A" * 60_000,  # huge
        b"Authorization: Basic YWRtaW46YWRtaW4=",
    ],
)
def test_hostile_authorization_headers_are_refused_cleanly(
    server: LiveServer, header: bytes
) -> None:
    status = _raw_get(server.url, "/api/blocklist", header)
    assert status in (400, 401, 431), status  # refused; never 200, never a 500


def test_the_admin_token_still_works_as_the_bootstrap_admin(server: LiveServer) -> None:
    with _as(server, ADMIN_TOKEN) as admin:
        assert admin.get("/api/blocklist").status_code == 200
        assert admin.get("/api/conversations").status_code == 200


def test_the_database_holds_a_digest_never_the_token(server: LiveServer) -> None:
    token, _ = _token(server, "admin")
    files = sorted(Path(server.settings.home).glob("personae.db*"))  # with the WAL
    database = b"".join(f.read_bytes() for f in files)
    assert token.encode() not in database and digest(token).encode() in database
