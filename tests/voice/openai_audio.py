"""A real HTTP server on loopback speaking OpenAI's audio endpoints: POST /v1/audio/transcriptions
(multipart/form-data with ``file`` and ``model``) and POST /v1/audio/speech (JSON), with Bearer
auth and OpenAI-shaped error bodies. It records what it received so tests check the wire shape.
Its "speech" is a WAV of a 440 Hz tone as long as the input has words (a stand-in voice whose
length the test can predict); its "transcript" is the word count it decoded, so a test can tell
the real upload reached it."""

from __future__ import annotations

import math
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from personae.types import Speech
from personae.voice import codec

KEY = "sk-loopback-audio"


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "invalid_request_error"}}, status)


@dataclass
class AudioServer:
    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    fail_next: int | None = None

    def app(self) -> Starlette:
        async def transcriptions(request: Request) -> Response:
            if request.headers.get("authorization") != f"Bearer {KEY}":
                return _error(401, "Incorrect API key provided")
            if self.fail_next:
                status, self.fail_next = self.fail_next, None
                return _error(status, "overloaded")
            form = await request.form()
            upload = form["file"]
            assert not isinstance(upload, str)
            data = await upload.read()
            self.received.append(
                {
                    "model": form.get("model"),
                    "response_format": form.get("response_format"),
                    "filename": upload.filename,
                    "content_type": upload.content_type,
                    "bytes": len(data),
                }
            )
            seconds = codec.decode(data, max_seconds=600).duration_s
            return JSONResponse({"text": f" heard {seconds:.1f} seconds ", "language": "english"})

        async def speech(request: Request) -> Response:
            if request.headers.get("authorization") != f"Bearer {KEY}":
                return _error(401, "Incorrect API key provided")
            body = await request.json()
            self.received.append(body)
            words = len(body["input"].split())
            rate = 24000
            samples = (
                int(6000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(words * rate // 4)
            )
            pcm = b"".join(struct.pack("<h", s) for s in samples)
            return Response(codec.encode(Speech(pcm, rate), "wav"), media_type="audio/wav")

        return Starlette(
            routes=[
                Route("/v1/audio/transcriptions", transcriptions, methods=["POST"]),
                Route("/v1/audio/speech", speech, methods=["POST"]),
            ]
        )

    def start(self) -> tuple[uvicorn.Server, threading.Thread]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        server = uvicorn.Server(uvicorn.Config(self.app(), log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        return server, thread
