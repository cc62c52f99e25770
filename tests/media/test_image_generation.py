"""The image-generation adapter contract: registered through the plugin hook, and the
OpenAI-compatible adapter against a loopback /v1/images/generations server that checks the
wire body (the persona's look before the prompt, its seed, base64 answers)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from PIL import Image

from personae.contracts import ImageGenerator, ImageRequest
from personae.errors import EngineError, EngineUnavailable
from personae.plugins import image_generator_factories
from personae.settings import Settings


class ImagesServer:
    def __init__(self) -> None:
        self.url = ""
        self.bodies: list[dict[str, Any]] = []

    def answer(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        if path != "/v1/images/generations":
            return 404, {"error": {"message": "no such endpoint"}}
        if headers.get("authorization") != "Bearer img-key":
            return 401, {"error": {"message": "bad key"}}
        if body["prompt"].endswith("busy"):
            return 503, {"error": {"message": "all GPUs busy"}}
        if body.get("response_format") != "b64_json" or body.get("n") != 1:
            return 400, {"error": {"message": "only one b64_json image"}}
        if "forbidden" in body["prompt"]:
            return 400, {"error": {"message": "prompt rejected by policy"}}
        width, height = (int(x) for x in body["size"].split("x"))
        seed = body.get("seed", 0)
        colour = (seed % 256, (seed // 256) % 256, 99)
        out = io.BytesIO()
        Image.new("RGB", (width, height), colour).save(out, "PNG")
        return 200, {
            "created": 1,
            "data": [{"b64_json": base64.b64encode(out.getvalue()).decode()}],
        }

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        path = head[0].split(" ")[1]
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
        body = json.loads(await reader.readexactly(int(headers.get("content-length", "0"))))
        self.bodies.append(body)
        status, payload = self.answer(path, headers, body)
        data = json.dumps(payload).encode()
        lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(data)}", "Connection: close",
                 "Content-Type: application/json"]  # fmt: skip
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
        await writer.drain()
        writer.close()


@pytest.fixture
async def images() -> AsyncIterator[ImagesServer]:
    state = ImagesServer()
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    async with server:
        yield state


async def generator(url: str) -> ImageGenerator:
    settings = Settings(image_base_url=url, image_api_key="img-key", image_model="sketch")
    return await image_generator_factories()["openai"](settings)


async def test_the_persona_look_and_seed_go_over_the_wire(images: ImagesServer) -> None:
    made = await generator(images.url)
    assert isinstance(made, ImageGenerator)
    ask = ImageRequest("at the market, smiling", look="a woman with red curly hair", seed=513,
                       size="64x48")  # fmt: skip
    first = await made.generate(ask)
    again = await made.generate(ask)
    await made.aclose()
    assert first == again  # same seed, same look
    picture = Image.open(io.BytesIO(first))
    assert picture.size == (64, 48) and picture.getpixel((0, 0)) == (1, 2, 99)
    assert images.bodies[0] == {
        "model": "sketch",
        "prompt": "a woman with red curly hair\n\nat the market, smiling",
        "n": 1,
        "size": "64x48",
        "response_format": "b64_json",
        "seed": 513,
    }


async def test_server_failures_are_classified(images: ImagesServer) -> None:
    made = await generator(images.url)
    with pytest.raises(EngineUnavailable, match="all GPUs busy"):
        await made.generate(ImageRequest("please, busy"))
    with pytest.raises(EngineError, match="prompt rejected by policy") as refused:
        await made.generate(ImageRequest("something forbidden"))
    assert not isinstance(refused.value, EngineUnavailable)
    await made.aclose()
    gone = await generator("http://127.0.0.1:9/v1")
    with pytest.raises(EngineUnavailable, match="PERSONAE_IMAGE_BASE_URL"):
        await gone.generate(ImageRequest("anything"))
    await gone.aclose()
