"""A real OpenAI-compatible judge on a loopback port (its own thread, so a `personae`
subprocess can call it): POST /v1/chat/completions answers a chat.completion whose text comes
from ``scorer(request body)``. Every request is recorded."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Scorer = Callable[[dict[str, Any]], str]


class JudgeServer:
    def __init__(self, scorer: Scorer) -> None:
        self.scorer = scorer
        self.requests: list[dict[str, Any]] = []
        self.auth: list[str | None] = []
        judge = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                judge.requests.append(body)
                judge.auth.append(self.headers.get("Authorization"))
                if self.path != "/v1/chat/completions":
                    self._send(404, {"error": {"message": "no such endpoint"}})
                    return
                text = judge.scorer(body)
                self._send(200, {
                    "id": "chatcmpl-judge", "object": "chat.completion", "created": 0,
                    "model": body.get("model"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                })  # fmt: skip

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def prompts(self) -> list[str]:
        """The user message of each request."""
        return [m["content"] for r in self.requests for m in r["messages"] if m["role"] == "user"]


@contextmanager
def judge_server(scorer: Scorer) -> Iterator[JudgeServer]:
    judge = JudgeServer(scorer)
    thread = threading.Thread(target=judge.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield judge
    finally:
        judge.server.shutdown()
        judge.server.server_close()
        thread.join()


def closed_port_url() -> str:
    """A loopback URL nothing listens on: a judge that is down."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.server_close()
    return f"http://127.0.0.1:{port}/v1"
