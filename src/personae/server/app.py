"""The ASGI app: wiring only. Routes translate HTTP <-> core; the runtime does the work."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

import personae
from personae.runtime import Role, Runtime
from personae.server import (
    analytics_routes,
    api_routes,
    audio_routes,
    card_routes,
    channel_routes,
    eval_routes,
    knowledge_routes,
    memory_routes,
    metrics_routes,
    openai_routes,
    ratings_routes,
    rights_routes,
    studio_api,
    studio_review,
    studio_routes,
    web_media,
    web_routes,
    web_video,
    web_voice,
    webhook_routes,
)
from personae.server.audio_routes import upload_limit
from personae.server.auth import Guard, ensure_admin_token
from personae.server.deps import ServerState, server_state
from personae.server.errors import install_error_handlers
from personae.server.hosts import HostCheck, allowed_hosts
from personae.server.limits import BodyLimit, UploadLimit
from personae.server.openapi import install_openapi
from personae.server.request_id import RequestId
from personae.server.textcheck import BodyTextCheck
from personae.settings import Settings

Progress = Callable[[str], None]


def _noop(_: str) -> None:
    return None


def create_app(
    settings: Settings,
    *,
    runtime: Runtime | None = None,
    progress: Progress | None = None,
    role: Role = "all",
) -> FastAPI:
    """The personae server. Without ``runtime`` the app starts its own at start-up and closes
    it at shutdown; a given runtime is used as-is and left open."""
    state = ServerState(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        token, _path = ensure_admin_token(settings)
        state.guard = Guard(token, settings.client_keys())
        if runtime is not None:
            state.runtime = runtime
            yield
            return
        owned = await Runtime.start(settings, progress=progress or _noop, role=role)
        state.runtime = owned
        owned.pollers.start()  # the server polls; a CLI command beside it must not
        try:
            yield
        finally:
            state.runtime = None
            await owned.aclose()

    app = FastAPI(
        title="personae",
        version=personae.__version__,
        summary="AI personas: an OpenAI-compatible API, a REST API and a web chat",
        lifespan=lifespan,
    )
    app.state.personae = state
    install_error_handlers(app)
    install_openapi(app)
    app.add_middleware(BodyTextCheck)  # inside the limit: it reads bodies already capped
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        timeout_s=settings.body_timeout_s,
        uploads=[
            UploadLimit.at(
                "/v1/chat/completions", settings.media_body_bytes, "PERSONAE_MEDIA_BODY_BYTES"
            ),
            UploadLimit.at(
                web_media.UPLOAD_PATH,
                settings.media_max_audio_bytes,
                "PERSONAE_MEDIA_MAX_AUDIO_BYTES",
                content_type="audio/",  # a voice note; anything else is judged as a photo
                check_head=True,
            ),
            UploadLimit.at(
                web_media.UPLOAD_PATH,
                settings.media_max_image_bytes,
                "PERSONAE_MEDIA_MAX_IMAGE_BYTES",
            ),
            UploadLimit.at(
                "/v1/audio/transcriptions",
                upload_limit(settings.media_max_audio_bytes),
                "PERSONAE_MEDIA_MAX_AUDIO_BYTES",
            ),
            knowledge_routes.upload_limit(settings),
        ],
    )
    # Added late, so it runs early: a refused Host gets no further.
    app.add_middleware(HostCheck, allowed=allowed_hosts(settings))
    app.add_middleware(RequestId)  # outermost: every answer, refusals included, carries an id
    app.router.routes[:0] = webhook_routes.routes  # first: matched before all others
    app.add_api_route("/healthz", healthz, methods=["GET"], tags=["health"])
    app.add_api_route("/readyz", readyz, methods=["GET"], tags=["health"])
    app.include_router(metrics_routes.router)
    app.include_router(openai_routes.router)
    app.include_router(audio_routes.router)
    app.include_router(studio_api.router)  # before /api/personas/{slug}
    app.include_router(api_routes.router)
    app.include_router(memory_routes.router)
    app.include_router(knowledge_routes.router)
    app.include_router(analytics_routes.router)
    app.include_router(ratings_routes.router)
    app.include_router(channel_routes.router)
    app.include_router(card_routes.router)
    app.include_router(card_routes.export_router)
    app.include_router(eval_routes.router)
    app.include_router(web_routes.router)
    app.include_router(web_media.router)
    app.include_router(web_video.router)
    app.include_router(web_voice.router)
    app.include_router(studio_routes.router)
    app.include_router(studio_review.router)
    app.include_router(rights_routes.admin_router)
    app.include_router(rights_routes.router)
    return app


async def healthz(request: Request) -> Any:
    """200 {"status": "ok"} once the store and the default engine are ready, else 503."""
    if server_state(request).runtime is None:
        return JSONResponse({"status": "starting"}, status_code=503, headers={"Retry-After": "1"})
    return {"status": "ok"}


async def readyz(request: Request) -> Any:
    """200 when this process can take work: its store and queue (in a cluster, and the
    event listener of a web node) answer; else 503 naming what does not, so a load
    balancer sends requests elsewhere meanwhile."""
    runtime = server_state(request).runtime
    if runtime is None:
        return JSONResponse({"status": "starting"}, status_code=503, headers={"Retry-After": "1"})
    checks = await runtime.ready()
    if all(checks.values()):
        return {"status": "ok", "checks": checks}
    body = {"status": "unavailable", "checks": checks}
    return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})
