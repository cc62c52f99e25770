"""The request-id middleware around an app with a bug: the 500 still carries the id, in the
header and the message, and the log names it."""

from __future__ import annotations

import logging

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from personae.server.request_id import RequestId


async def broken_app(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("a bug")


async def test_an_unhandled_error_is_a_json_500_naming_the_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    transport = httpx.ASGITransport(app=RequestId(broken_app), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        answer = await http.post("/v1/chat/completions", headers={"X-Request-Id": "abc-123"})
    assert answer.status_code == 500
    assert answer.headers["x-request-id"] == "abc-123"
    error = answer.json()["error"]
    assert "abc-123" in error["message"] and error["type"] == "server_error"
    assert any("abc-123" in r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)
