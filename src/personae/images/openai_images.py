"""openai: any OpenAI-compatible ``/v1/images/generations`` server (hosted, or local servers
that speak the same shape).

The persona's visual description goes before what the picture shows, and the persona's
fixed seed goes along (servers that honour ``seed`` then draw a consistent look). The image
comes back as base64 (``response_format: b64_json``), never as a URL to fetch.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import httpx

from personae.contracts import ImageGenerator, ImageRequest
from personae.engines._wire import error_for_status, error_message
from personae.errors import EngineError, EngineUnavailable
from personae.plugins import RegisterImageGenerator, hookimpl
from personae.settings import Settings

NAME = "openai"
TIMEOUT_S = 120.0


def prompt_of(request: ImageRequest) -> str:
    look = request.look.strip()
    return f"{look}\n\n{request.prompt.strip()}" if look else request.prompt.strip()


class OpenAIImages:
    """Speaks OpenAI's images API to one server; build it with the factory."""

    name = NAME

    def __init__(self, settings: Settings) -> None:
        self.base_url = settings.image_base_url.rstrip("/")
        self.model = settings.image_model
        headers = {"Accept": "application/json"}
        if settings.image_api_key is not None:
            headers["Authorization"] = f"Bearer {settings.image_api_key.get_secret_value()}"
        self._client = httpx.AsyncClient(headers=headers, timeout=TIMEOUT_S)

    async def generate(self, request: ImageRequest) -> bytes:
        url = f"{self.base_url}/images/generations"
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": prompt_of(request),
            "n": 1,
            "size": request.size,
            "response_format": "b64_json",
        }
        if request.seed is not None:
            body["seed"] = request.seed
        try:
            response = await self._client.post(url, json=body)
        except httpx.HTTPError as exc:
            raise EngineUnavailable(
                f"image generator {NAME} at {url}: {type(exc).__name__}; check that the server "
                "runs and PERSONAE_IMAGE_BASE_URL is right"
            ) from exc
        try:
            payload = response.json()
        except ValueError:
            payload = response.text
        if response.status_code >= 400:
            retry = response.headers.get("retry-after")
            raise error_for_status(
                f"image generator {NAME}", url, response.status_code, error_message(payload), retry
            )
        return _image_of(payload, url)

    async def aclose(self) -> None:
        await self._client.aclose()


def _image_of(payload: object, url: str) -> bytes:
    try:
        encoded = payload["data"][0]["b64_json"]  # type: ignore[index]
        return base64.b64decode(encoded, validate=True)
    except (KeyError, IndexError, TypeError, binascii.Error):
        raise EngineError(
            f"image generator {NAME} at {url}: the answer has no data[0].b64_json image; the "
            "server must support response_format b64_json"
        ) from None


async def create_openai_images(settings: Settings) -> ImageGenerator:
    return OpenAIImages(settings)


@hookimpl
def register_image_generators(register: RegisterImageGenerator) -> None:
    register(NAME, create_openai_images)
