"""/readyz checks the engines a process runs turns with: a real server whose only model
endpoint is down answers 503 naming the engines, and 200 once a real llama.cpp server
listens there; an engine inside the process (scripted) is ready as soon as it is loaded."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from personae.settings import Settings
from server.live import start_server, write_personas

from .llama_servers import LlamaServer, endpoints_yaml

PORT = 24021  # this suite's fixed port range (llama_proc takes no port 0)


def _ready(url: str) -> httpx.Response:
    return httpx.get(f"{url}/readyz", timeout=30)


def test_readyz_is_503_while_every_endpoint_is_down_and_200_once_one_answers(
    tmp_path: Path,
) -> None:
    endpoint = LlamaServer(PORT, parallel=1)
    path = tmp_path / "endpoints.yaml"
    path.write_text(endpoints_yaml("small", [endpoint.base_url]))
    settings = Settings(
        home=tmp_path, engine="endpoints", endpoints=path, load_samples=False,
        personas_dir=write_personas(tmp_path / "personas"), endpoint_health_s=30,
    )  # fmt: skip
    server = start_server(settings)
    try:
        down = _ready(server.url)
        assert down.status_code == 503, down.text
        assert down.headers["retry-after"]
        body = down.json()
        assert body["status"] == "unavailable"
        assert body["checks"]["engines"] is False
        assert body["checks"]["store"] is True  # only the engines are named as down

        endpoint.start()
        deadline = time.monotonic() + 30
        answer = _ready(server.url)
        while answer.status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
            answer = _ready(server.url)
        assert answer.status_code == 200, answer.text
        assert answer.json()["checks"]["engines"] is True

        endpoint.kill()  # a crashed endpoint takes the process out again
        assert _ready(server.url).status_code == 503
    finally:
        endpoint.kill()
        server.stop()


def test_readyz_reports_an_in_process_engine_ready(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path, engine="scripted", load_samples=False,
        personas_dir=write_personas(tmp_path / "personas"),
    )  # fmt: skip
    server = start_server(settings)
    try:
        answer = _ready(server.url)
        assert answer.status_code == 200, answer.text
        assert answer.json()["checks"] == {"store": True, "engines": True}
    finally:
        server.stop()
