"""Personae errors -> HTTP: one table of statuses, two body shapes.

/v1 answers in OpenAI's shape ``{"error": {"message", "type", "param", "code"}}`` so official
SDKs raise the right exception class; /api and /web answer ``{"error": {"message", "type"}}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from personae.channels.config import ChannelsInvalid
from personae.errors import (
    BadRequest,
    CardInvalid,
    ConfigError,
    EngineError,
    EngineUnavailable,
    Forbidden,
    MessageTooLarge,
    NotFound,
    PersonaeError,
    PersonaInvalid,
    PersonaNotFound,
    PersonaUnreadable,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
)


@dataclass(frozen=True, slots=True)
class HttpError:
    """How one error goes over the wire."""

    status: int
    type: str
    code: str | None
    message: str
    param: str | None = None
    headers: dict[str, str] | None = None


class FieldError(BadRequest):
    """A request field is wrong; ``param`` names it (OpenAI's ``param``)."""

    def __init__(self, param: str, message: str) -> None:
        self.param = param
        super().__init__(message)


def describe(exc: PersonaeError) -> HttpError:
    """The status, type and headers for one of our errors (most specific class first)."""
    text = str(exc)
    if isinstance(exc, MessageTooLarge):
        return HttpError(413, "invalid_request_error", "message_too_large", text, "messages")
    if isinstance(exc, PersonaUnreadable):
        return HttpError(400, "invalid_request_error", "persona_unreadable", text, "body")
    if isinstance(exc, PersonaInvalid):
        return HttpError(422, "invalid_persona", "persona_invalid", text)
    if isinstance(exc, ChannelsInvalid):
        return HttpError(422, "invalid_connection", "connection_invalid", text)
    if isinstance(exc, CardInvalid):
        return HttpError(400, "invalid_request_error", "card_invalid", text, "body")
    if isinstance(exc, BadRequest):
        return HttpError(400, "invalid_request_error", None, text, getattr(exc, "param", None))
    if isinstance(exc, PersonaNotFound):
        return HttpError(404, "invalid_request_error", "model_not_found", text, "model")
    if isinstance(exc, NotFound):
        return HttpError(404, "not_found_error", "not_found", text)
    if isinstance(exc, Unauthorized):
        return HttpError(
            401, "invalid_request_error", "invalid_api_key", text,
            headers={"WWW-Authenticate": "Bearer"},
        )  # fmt: skip
    if isinstance(exc, Forbidden):
        return HttpError(403, "permission_error", "forbidden", text)
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(max(1, int(exc.retry_after + 0.999)))}
        return HttpError(429, "rate_limit_error", "rate_limited", text, headers=headers)
    if isinstance(exc, EngineUnavailable):
        headers = {"Retry-After": str(max(1, int(exc.retry_after)))}
        return HttpError(503, "server_error", "engine_unavailable", text, headers=headers)
    if isinstance(exc, EngineError):
        return HttpError(502, "server_error", "engine_error", text)
    if isinstance(exc, ConfigError):
        return HttpError(500, "server_error", "config_error", text)
    if isinstance(exc, ServiceUnavailable):
        headers = {"Retry-After": str(exc.retry_after)}
        return HttpError(503, "server_error", "unavailable", text, headers=headers)
    return HttpError(500, "server_error", None, text)


def unreachable(exc: BaseException) -> ServiceUnavailable | None:
    """The store or queue is down (not a bug): the request may simply be sent again."""
    if isinstance(exc, ServiceUnavailable):
        return exc
    if isinstance(exc, DBAPIError | ConnectionError | TimeoutError | PoolTimeout):
        return ServiceUnavailable(f"the database cannot be reached ({type(exc).__name__}); "
                                  "try again shortly")  # fmt: skip
    return None


def is_openai_path(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/")


def error_body(error: HttpError, openai_shape: bool, exc: Exception | None = None) -> Any:
    if openai_shape:
        fields = {"message": error.message, "type": error.type}
        return {"error": {**fields, "param": error.param, "code": error.code}}
    body: dict[str, Any] = {"message": error.message, "type": error.code or error.type}
    if isinstance(exc, PersonaInvalid | ChannelsInvalid):
        body["problems"] = [
            {"location": p.location, "message": p.message, "value": p.value, "hint": p.hint}
            for p in exc.problems
        ]
    return {"error": body}


def error_response(request: Request, exc: PersonaeError) -> JSONResponse:
    error = describe(exc)
    body = error_body(error, is_openai_path(request.url.path), exc)
    return JSONResponse(body, status_code=error.status, headers=error.headers)


def sse_error_payload(exc: PersonaeError, openai_shape: bool) -> str:
    """The error as an SSE data payload, for failures after the stream began."""
    return json.dumps(error_body(describe(exc), openai_shape, exc))


def validation_to_bad_request(exc: RequestValidationError) -> FieldError:
    """FastAPI's body validation -> a 400 naming the field and saying how to fix it."""
    first = exc.errors()[0] if exc.errors() else {}
    # The first part says where (body, query, path); the rest names the field.
    loc = [str(part) for part in first.get("loc", ())[1:]]
    kind = first.get("type", "")
    if kind == "json_invalid":
        reason = (first.get("ctx") or {}).get("error", "malformed")
        return FieldError("body", f"request body is not valid JSON ({reason}); send a JSON object")
    if not loc:
        return FieldError(
            "body", "request body must be a JSON object sent with Content-Type: application/json"
        )
    field = ".".join(loc)
    return FieldError(field, f"field {field!r}: {first.get('msg', 'invalid value')}")


def install_error_handlers(app: FastAPI) -> None:
    async def on_personae(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, PersonaeError)
        return error_response(request, exc)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(request, validation_to_bad_request(exc))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        message = str(exc.detail)
        if exc.status_code in (404, 405):
            message = (
                f"{message}: {request.method} {request.url.path}; "
                "the routes are listed at /openapi.json"
            )
        code = "not_found" if exc.status_code == 404 else None
        error = HttpError(exc.status_code, "invalid_request_error", code, message)
        body = error_body(error, is_openai_path(request.url.path))
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    async def on_unreachable(request: Request, exc: Exception) -> JSONResponse:
        found = unreachable(exc)
        if found is None:
            raise exc
        return error_response(request, found)

    app.add_exception_handler(PersonaeError, on_personae)
    app.add_exception_handler(DBAPIError, on_unreachable)
    app.add_exception_handler(ConnectionError, on_unreachable)
    app.add_exception_handler(PoolTimeout, on_unreachable)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
