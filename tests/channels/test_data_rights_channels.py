"""/export and /delete-my-data on a messaging channel, end to end through signed webhooks: the
commands are answered without the model, the confirmation deletes every row about the person,
and the last notice reaches the platform once without being stored."""

from __future__ import annotations

import asyncio
import json
import time

import httpx

from server.live import LiveServer

from .harness import HARNESSES
from .platform import PlatformServer
from .test_webhook_server import platform, post, rows, server, until, web

WA = HARNESSES[0]
__all__ = ["platform", "server", "web"]  # the fixtures, shared with the webhook suite
PERSON_ROWS = (
    "SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM conversations) + "
    "(SELECT count(*) FROM identities) + (SELECT count(*) FROM people) + "
    "(SELECT count(*) FROM outbox) + (SELECT count(*) FROM work) + "
    "(SELECT count(*) FROM turns) + (SELECT count(*) FROM data_requests)"
)


def _texts(server: LiveServer) -> list[str]:
    return [
        json.loads(p)["text"] for (p,) in rows(server, "SELECT payload FROM outbox ORDER BY id")
    ]


async def test_delete_my_data_asks_first_then_deletes_everything_on_confirmation(
    web: httpx.AsyncClient, server: LiveServer, platform: PlatformServer
) -> None:
    assert (await post(web, WA, WA.text_update("hola", "wamid.D1"))).status_code == 200
    await until(server, "SELECT id FROM outbox", 1)
    assert (await post(web, WA, WA.text_update("/export", "wamid.D2"))).status_code == 200
    await until(server, "SELECT id FROM outbox", 2)
    summary = _texts(server)[1]
    assert "3 message(s)" in summary and "cannot send files" in summary, summary
    assert (await post(web, WA, WA.text_update("/delete-my-data", "wamid.D3"))).status_code == 200
    await until(server, "SELECT id FROM outbox", 3)
    assert "/delete-my-data confirm" in _texts(server)[2]
    assert rows(server, "SELECT count(*) FROM messages") == [(6,)], "nothing deleted yet"
    # The model never saw the commands: every reply but the first is a command's.
    assert [t.startswith("echo:") for t in _texts(server)] == [True, False, False]

    confirm = WA.text_update("/delete-my-data confirm", "wamid.D4")
    assert (await post(web, WA, confirm)).status_code == 200
    deadline = time.monotonic() + 20
    while rows(server, PERSON_ROWS) != [(0,)]:
        assert time.monotonic() < deadline, rows(server, PERSON_ROWS)
        await asyncio.sleep(0.05)
    notices = [b for b in platform.sent(WA.send_suffix) if "has been deleted" in json.dumps(b)]
    while not notices:
        assert time.monotonic() < deadline, platform.sent(WA.send_suffix)
        await asyncio.sleep(0.05)
        notices = [b for b in platform.sent(WA.send_suffix) if "has been deleted" in json.dumps(b)]
    assert len(notices) == 1 and WA.sender in json.dumps(notices[0])


async def test_a_confirmation_without_a_request_deletes_nothing(
    web: httpx.AsyncClient, server: LiveServer
) -> None:
    confirm = WA.text_update("/delete-my-data confirm", "wamid.C1")
    assert (await post(web, WA, confirm)).status_code == 200
    await until(server, "SELECT id FROM outbox", 1)
    assert "No deletion is waiting" in _texts(server)[0]
    assert rows(server, "SELECT count(*) FROM messages") == [(2,)]
