"""POST /api/personas/{slug}/eval: the eval suite from the admin API, tried as an attacker would."""

from __future__ import annotations

import httpx

from .live import ADMIN_TOKEN


def test_eval_needs_the_admin_token(client: httpx.Client) -> None:
    assert client.post("/api/personas/cooking-coach/eval").status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert client.post("/api/personas/cooking-coach/eval", headers=wrong).status_code == 401


def test_eval_runs_the_suite_and_compares_with_revisions(admin: httpx.Client) -> None:
    done = admin.post("/api/personas/spanish-tutor/eval", json={"seed": 3})
    assert done.status_code == 200, done.text
    result = done.json()
    assert result["persona"] == "spanish-tutor" and result["engine"] == "scripted"
    kinds = {case["kind"] for case in result["cases"]}
    assert kinds == {"persona", "builtin"}
    assert result["regressions"] == [] and "report" not in result
    again = admin.post("/api/personas/spanish-tutor/eval", json={"against": result["revision"]})
    assert again.status_code == 200 and again.json()["compared_with"].startswith("revision")
    missing = admin.post("/api/personas/spanish-tutor/eval", json={"against": 999})
    assert missing.status_code == 404, missing.text


def test_eval_refuses_bad_input(admin: httpx.Client) -> None:
    assert admin.post("/api/personas/no-such-persona/eval").status_code == 404
    for body in ({"seed": "x"}, {"against": 0}, {"against": 2**40}, {"surprise": 1}, [1, 2]):
        response = admin.post("/api/personas/cooking-coach/eval", json=body)
        assert response.status_code == 400, (body, response.text)
    odd = admin.post("/api/personas/%2e%2e%2fetc/eval")
    assert odd.status_code == 404
    raw = admin.post(
        "/api/personas/cooking-coach/eval",
        content=b"\xff\xfe",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert raw.status_code == 400
