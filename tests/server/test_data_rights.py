"""Data rights on the web chat and the API: /export and /delete-my-data as chat commands, the
downloads they point at, and the admin's export and deletion; each tried by someone else too."""

from __future__ import annotations

import httpx

from .live import ADMIN_TOKEN, API_KEY, LiveServer
from .test_api import sse_events

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _say(browser: httpx.Client, text: str) -> str:
    reply = browser.post("/web/personas/echo-friend/messages", json={"text": text})
    assert reply.status_code == 200, reply.text
    content: str = sse_events(reply)[-1][1]["reply"]["content"]
    return content


def test_a_web_person_exports_then_deletes_their_data(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url) as browser, httpx.Client(base_url=live.url) as other:
        browser.get("/")
        other.get("/")
        assert _say(browser, "my secret is 42") == "echo: my secret is 42"
        assert "/web/export" in _say(browser, "/export")
        download = browser.get("/web/export")
        assert download.status_code == 200
        assert "attachment" in download.headers["content-disposition"]
        contents = [m["content"] for m in download.json()["tables"]["messages"]]
        assert "my secret is 42" in contents
        assert other.get("/web/export").status_code == 404  # not theirs to see

        assert "/delete-my-data confirm" in _say(browser, "/delete-my-data")
        assert browser.get("/web/export").status_code == 200, "nothing deleted before confirming"
        assert "has been deleted" in _say(browser, "/delete-my-data confirm")
        assert browser.get("/web/export").status_code == 404
        page = browser.get("/web/personas/echo-friend/conversation").json()
        assert page["messages"] == []


def test_an_export_link_works_for_its_holder_only_while_valid(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url, headers=ADMIN) as admin:
        opened = admin.post("/api/conversations", json={"persona": "echo-friend", "user": "lin"})
        conversation, person = opened.json()["id"], opened.json()["person_id"]
        said = admin.post(f"/api/conversations/{conversation}/messages", json={"text": "/export"})
        reply = said.json()["reply"]["content"]
        link = reply.split("JSON file: ", 1)[1].split(" ", 1)[0]
        assert link.startswith("/export/")
    with httpx.Client(base_url=live.url) as anyone:
        got = anyone.get(link)
        assert got.status_code == 200 and got.json()["person_id"] == person
        for forged in ("/export/" + "A" * 43, "/export/" + "x" * 5000, link + "x"):
            assert anyone.get(forged).status_code == 404
        with httpx.Client(base_url=live.url, headers=ADMIN) as admin:
            assert admin.delete(f"/api/people/{person}").status_code == 200
        assert anyone.get(link).status_code == 404, "the link died with the data"


def test_admins_export_and_delete_a_person_through_the_api(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url, headers=ADMIN) as admin:
        opened = admin.post("/api/conversations", json={"persona": "echo-friend", "user": "kim"})
        conversation, person = opened.json()["id"], opened.json()["person_id"]
        admin.post(f"/api/conversations/{conversation}/messages", json={"text": "hello"})
        exported = admin.get(f"/api/people/{person}/export")
        assert exported.status_code == 200
        assert len(exported.json()["tables"]["messages"]) == 2
        deleted = admin.delete(f"/api/people/{person}")
        assert deleted.status_code == 200 and deleted.json()["deleted"] is True
        assert admin.get(f"/api/conversations/{conversation}").status_code == 404
        assert admin.get(f"/api/people/{person}/export").status_code == 404
        assert admin.delete(f"/api/people/{person}").status_code == 404
    with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {API_KEY}"}) as c:
        assert c.get(f"/api/people/{person}/export").status_code == 401
