"""GET /metrics on a live server: admin-only by default, Prometheus text, real figures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from personae.runtime import Runtime
from personae.settings import Settings

from .live import ADMIN_TOKEN, LiveServer, start_server, write_personas
from .test_roles import _token


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("metrics")
    settings = Settings(
        home=home, engine="scripted", admin_token=ADMIN_TOKEN, load_samples=False,
        personas_dir=write_personas(home / "personas"),
    )  # fmt: skip
    live = start_server(settings)
    yield live
    live.stop()


def sample(text: str, name: str, **labels: str) -> float | None:
    """One sample's value from the text format, by metric name and labels."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if head.split("{")[0] != name:
            continue
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            return float(value)
    return None


def test_metrics_need_the_admin_token(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as anyone:
        assert anyone.get("/metrics").status_code == 401
        wrong = anyone.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "personae_" not in wrong.text
        huge = anyone.get("/metrics", headers={"Authorization": "Bearer " + "x" * 6000})
        assert huge.status_code in (400, 401, 431)
    creator, _ = _token(server, "creator", "echo-friend")
    headers = {"Authorization": f"Bearer {creator}"}
    with httpx.Client(base_url=server.url, timeout=30, headers=headers) as staff:
        assert staff.get("/metrics").status_code == 403


def test_metrics_report_turns_queue_and_webhooks(server: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=server.url, timeout=60, headers=headers) as admin:
        made = admin.post("/api/conversations", json={"persona": "echo-friend", "user": "fay"})
        url = f"/api/conversations/{made.json()['id']}/messages"
        assert admin.post(url, json={"text": "hello"}).status_code == 200
        assert admin.post("/webhooks/nochannel", content=b"{}").status_code == 404
        scraped = admin.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    text = scraped.text
    assert (sample(text, "personae_turn_stage_seconds_count", stage="total") or 0) >= 1
    assert (sample(text, "personae_turn_stage_seconds_count", stage="queued") or 0) >= 1
    assert (sample(text, "personae_turns_total", status="ok") or 0) >= 1
    assert sample(text, "personae_queue_depth", kind="turn") == 0
    assert sample(text, "personae_queue_oldest_age_seconds", kind="turn") == 0
    acks = sample(text, "personae_webhook_acks_total", channel="unknown", status="404")
    assert acks is not None and acks >= 1


def test_metrics_can_be_public_on_a_private_network(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    home = tmp_path_factory.mktemp("public-metrics")
    settings = Settings(home=home, engine="scripted", load_samples=False, metrics_public=True)
    live = start_server(settings)
    try:
        answer = httpx.get(f"{live.url}/metrics", timeout=30)
        assert answer.status_code == 200 and "personae_turns_total" in answer.text
    finally:
        live.stop()


async def test_a_worker_serves_its_metrics_on_a_port_of_its_own(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, engine="scripted", load_samples=False, metrics_port=21421)
    runtime = await Runtime.start(settings, warm=False, channels=False)
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.get("http://127.0.0.1:21421/metrics")
        assert answer.status_code == 200 and "personae_engine_requests_total" in answer.text
    finally:
        await runtime.aclose()
    with pytest.raises(httpx.ConnectError):  # closed with the runtime
        async with httpx.AsyncClient(timeout=5) as http:
            await http.get("http://127.0.0.1:21421/metrics")
