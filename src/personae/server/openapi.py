"""The OpenAPI document, made to say what the server really answers.

FastAPI declares a 422 on every route with input, but validation here answers 400; it knows
nothing of the statuses raised in dependencies, middleware and the core (401, 404, 413, 502,
503); and a pydantic schema embedded by hand keeps its ``#/$defs/...`` references, which do not
resolve inside a document. This fills in each operation from one table, without touching routes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict

from personae.types import Persona

REF = "#/components/schemas/{model}"
PERSONA_REF = {"$ref": REF.format(model="Persona")}


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True)


class OpenAIErrorDetail(_Wire):
    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIError(_Wire):
    """The /v1 error body, as OpenAI's SDKs expect it."""

    error: OpenAIErrorDetail


class ProblemDetail(_Wire):
    location: str
    message: str
    value: str | None
    hint: str | None


class NativeErrorDetail(_Wire):
    message: str
    type: str
    problems: list[ProblemDetail] | None = None


class NativeError(_Wire):
    """The /api and /web error body; ``problems`` lists each fault of a refused persona."""

    error: NativeErrorDetail


_WHY = {
    "400": "The request is malformed (or its Host is not allowed); the message says what to fix",
    "401": "An API key or the admin token is required and was missing or wrong",
    "403": "The token's role or personas do not cover this, or the person or address is blocked",
    "404": "The addressed persona, conversation, model or channel connection does not exist "
    "(or is not visible)",
    "409": "The persona changed since the revision named in If-Match; nothing was saved "
    "(the message and the ETag header name the newest revision)",
    "408": "The request body did not arrive within PERSONAE_BODY_TIMEOUT_S",
    "413": "The body or a message is over the configured limit",
    "422": "The persona or channel connection failed validation; `problems` lists every fault",
    "429": "Over an abuse limit (per person, IP or connection); nothing was stored: retry "
    "after Retry-After",
    "502": "The model engine failed",
    "503": "The server is still starting, or the engine is busy; retry after Retry-After",
}
# Operations that run a turn (may meet every engine failure) or name a persona in their body.
_TURNS = {
    ("post", "/v1/chat/completions"),
    ("post", "/api/conversations/{conversation_id}/messages"),
    ("post", "/api/conversations/{conversation_id}/messages/stream"),
    ("post", "/web/personas/{slug}/messages"),
    ("post", "/api/personas/{slug}/eval"),  # runs the persona's test turns
    ("post", "/api/personas/{slug}/test"),  # a draft's test chat
}
# Operations outside turns that still pass the abuse limits and blocklist (server/abuse.py).
_ADMITS = {
    ("post", "/web/uploads"),
    ("post", "/api/channels/{kind}/{key}/test-message"),
    ("get", "/web/personas/{slug}/messages/{message_id}/video"),
    ("get", "/web/personas/{slug}/messages/{message_id}/voice"),
}
# Operations that render (a web video or spoken reply): the speech or the video failed (502).
_RENDERS = {
    ("get", "/web/personas/{slug}/messages/{message_id}/video"),
    ("get", "/web/personas/{slug}/messages/{message_id}/voice"),
}
# Saves that carry If-Match: a stale revision answers 409.
_CONFLICTS = {("put", "/api/personas/{slug}/draft"), ("post", "/api/personas/{slug}/rollback")}
# One server-sent event: `data` is a chat.completion.chunk as JSON, or [DONE] at the end.
SSE_EVENT = {
    "type": "object",
    "properties": {"event": {"type": "string"}, "data": {"type": "string"}},
    "required": ["data"],
}
# Operations that run a speech adapter: over an abuse limit (429), the adapter failed (502).
_SPEECH = {("post", "/v1/audio/speech"), ("post", "/v1/audio/transcriptions")}
_NAMES_A_PERSONA = {
    ("post", "/api/conversations"),
    ("post", "/v1/audio/speech"),
    ("get", "/api/analytics"),
    ("get", "/api/ratings"),
    *_TURNS,
}
# Answer 404 when the person behind them has nothing stored (or the link expired).
_FINDS_A_PERSON = {("get", "/web/export")}


def install_openapi(app: FastAPI) -> None:
    """Replace ``app.openapi`` with one that returns the amended document (built once)."""
    build: Callable[[], dict[str, Any]] = app.openapi
    amended: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        if not amended:
            amended.append(amend(build()))
        return amended[0]

    app.openapi = openapi  # type: ignore[method-assign]


def amend(doc: dict[str, Any]) -> dict[str, Any]:
    schemas: dict[str, Any] = doc.setdefault("components", {}).setdefault("schemas", {})
    for model in (Persona, OpenAIError, NativeError):
        schema = model.model_json_schema(ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for path, operations in doc.get("paths", {}).items():
        for method, operation in operations.items():
            _amend_operation(path, method, operation)
    return doc


def _amend_operation(path: str, method: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    declared_422 = responses.pop("422", {}).get("description") not in (None, "Validation Error")
    shape = "OpenAIError" if path.startswith("/v1") else "NativeError"
    error_ref = {"$ref": REF.format(model=shape)}
    if (method, path) == ("post", "/v1/audio/speech"):  # the audio file itself
        audio = {"schema": {"type": "string", "format": "binary"}}
        responses["200"]["content"] = {
            f"audio/{kind}": audio for kind in ("mpeg", "ogg", "aac", "flac", "wav", "pcm")
        }
    if (method, path) == ("post", "/v1/chat/completions"):  # "stream": true answers with SSE
        responses["200"].setdefault("content", {})["text/event-stream"] = {"schema": SSE_EVENT}
    if path in ("/healthz", "/readyz"):
        starting = {"type": "object", "properties": {"status": {"type": "string"}}}
        responses["503"] = {"description": _WHY["503"], "content": _json(starting)}
        return
    for status in _statuses(path, method, operation, declared_422):
        responses[status] = {"description": _WHY[status], "content": _json(error_ref)}


def _statuses(path: str, method: str, operation: dict[str, Any], persona_body: bool) -> list[str]:
    params = operation.get("parameters", [])
    has_body = "requestBody" in operation
    # Every route needs the runtime (absent while starting) and checks the Host header.
    found = ["400", "503"]
    if path.startswith(("/v1/", "/api/")) or path == "/metrics":
        found.append("401")
    if path == "/metrics":
        found.append("403")  # a creator token is not an admin's
    if path.startswith("/api/") or (method, path) in _TURNS | _SPEECH:
        found.append("403")  # roles and scopes on /api; the blocklist on turns
    named = (method, path) in _NAMES_A_PERSONA or (method, path) in _FINDS_A_PERSON
    if any(p.get("in") == "path" for p in params) or named:
        found.append("404")
    if has_body or (method, path) in _SPEECH:  # the upload's body is read by the route
        found.extend(("408", "413"))
    if persona_body:
        found.append("422")
    if (method, path) in _CONFLICTS:
        found.append("409")
    if (method, path) in _TURNS | _SPEECH:
        found.extend(("429", "502"))
    if (method, path) in _ADMITS:
        found.extend(("403", "429"))
    if (method, path) in _RENDERS:
        found.append("502")
    return sorted(set(found))


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}
