"""What the benchmarks share: fresh homes, an in-process loopback server, one API turn and one
direct engine turn measured the same way, tables, verdicts, JSON results and machine facts.

The scripts run as ``python bench/NAME.py``, so this module is imported as ``_common``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

from personae.contracts import Engine
from personae.core.prompt import persona_prefix
from personae.errors import EngineError
from personae.runtime import Runtime
from personae.settings import Settings
from personae.types import ChatMessage, GenerationRequest, Persona, Usage

SAMPLE_PERSONAS = ("cooking-coach", "spanish-tutor", "travel-planner", "tech-support-friend")

# Generic openers that fit every sample persona; distinct, so no two turns share a full prompt.
MESSAGES = (
    "Hi! What can you help me with today?",
    "I only have ten minutes. What is one thing I should know?",
    "Can you give me a tip for a busy week?",
    "What is a common mistake beginners make?",
    "Explain that again, but simpler please.",
    "I'm nervous about getting started. Any advice?",
    "What would you do first in my place?",
    "Give me a short checklist for tomorrow.",
    "How do I know if I'm doing it right?",
    "What is your favourite part of this work?",
    "Can you suggest something cheap and easy?",
    "My friend says I should not bother. What do you think?",
    "What should I avoid on a tight budget?",
    "Tell me one surprising fact from your field.",
    "How much time should I plan for this?",
    "What do I need to buy or prepare first?",
    "I tried before and it went badly. What now?",
    "Can you break it into three small steps?",
    "What question should I be asking you?",
    "Thanks! One last tip before I go?",
)

TOP_P = 1.0  # with temperature 0 sampling is greedy; top_p is fixed so both sides match exactly
SEED = 7


@dataclass(frozen=True)
class Reply:
    """One measured turn, through the API or straight to the engine."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None
    seconds: float
    ttft_s: float | None = None
    cached_tokens: int = 0


# ---------------------------------------------------------------- setup


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", type=Path, default=None, help="write the result as JSON here")
    p.add_argument("--engine", default="llamacpp", help="engine to measure (default: llamacpp)")
    p.add_argument("--model", default=None, help="model for the engine (default: its own)")
    return p


@contextlib.contextmanager
def fresh_home() -> Iterator[Path]:
    """A throw-away PERSONAE_HOME, so every run starts from an empty store and cache."""
    with tempfile.TemporaryDirectory(prefix="personae-bench-") as folder:
        yield Path(folder)


def settings_for(home: Path, args: argparse.Namespace, **extra: Any) -> Settings:
    return Settings(home=home, engine=args.engine, model=args.model, log_level="warning", **extra)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def loopback_server(settings: Settings, runtime: Runtime) -> AsyncIterator[str]:
    """Serve the app with ``runtime`` (so it shares the direct side's model) on a loopback
    port in this process; yields the base URL and stops the server afterwards."""
    import uvicorn

    from personae.server.app import create_app

    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say TCP, and
    # without it every keep-alive response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings, runtime=runtime), log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the benchmark server stopped before it started")
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


def http_client(base_url: str) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    return httpx.AsyncClient(base_url=base_url, timeout=300.0, limits=limits)


# ---------------------------------------------------------------- one turn, both ways


def api_body(model: str, user: str, text: str, max_tokens: int, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "user": user,
        "messages": [{"role": "user", "content": text}],
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "top_p": TOP_P,
        "seed": SEED,
        "stream": stream,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


async def api_turn(
    client: httpx.AsyncClient, model: str, user: str, text: str, max_tokens: int, stream: bool
) -> Reply:
    """One turn through POST /v1/chat/completions; raises on any HTTP or in-stream error."""
    body = api_body(model, user, text, max_tokens, stream)
    start = time.perf_counter()
    if not stream:
        response = await client.post("/v1/chat/completions", json=body)
        if response.status_code != 200:
            raise EngineError(f"HTTP {response.status_code}: {response.text[:300]}")
        data = response.json()
        usage = data.get("usage") or {}
        choice = data["choices"][0]
        return Reply(
            text=choice["message"]["content"] or "",
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            finish_reason=choice.get("finish_reason"),
            seconds=time.perf_counter() - start,
            cached_tokens=_cached(usage),
        )
    return await _api_stream(client, body, start)


async def _api_stream(client: httpx.AsyncClient, body: dict[str, Any], start: float) -> Reply:
    pieces: list[str] = []
    ttft: float | None = None
    usage: dict[str, Any] = {}
    finish: str | None = None
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        if response.status_code != 200:
            detail = (await response.aread()).decode(errors="replace")[:300]
            raise EngineError(f"HTTP {response.status_code}: {detail}")
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if "error" in chunk:
                raise EngineError(f"error inside the stream: {chunk['error']}")
            usage = chunk.get("usage") or usage
            for choice in chunk.get("choices", []):
                content = choice.get("delta", {}).get("content")
                if content:
                    ttft = ttft if ttft is not None else time.perf_counter() - start
                    pieces.append(content)
                finish = choice.get("finish_reason") or finish
    return Reply(
        text="".join(pieces),
        prompt_tokens=int(usage.get("prompt_tokens", 0)),
        completion_tokens=int(usage.get("completion_tokens", 0)),
        finish_reason=finish,
        seconds=time.perf_counter() - start,
        ttft_s=ttft,
        cached_tokens=_cached(usage),
    )


def _cached(usage: dict[str, Any]) -> int:
    details = usage.get("prompt_tokens_details") or {}
    return int(details.get("cached_tokens") or 0)


def direct_request(persona: Persona, text: str, max_tokens: int) -> GenerationRequest:
    """Exactly what the turn pipeline asks the engine for a fresh conversation's first turn."""
    return GenerationRequest(
        messages=(*persona_prefix(persona), ChatMessage("user", text)),
        max_tokens=max_tokens,
        temperature=0.0,
        top_p=TOP_P,
        seed=SEED,
        model=persona.model.name,
    )


async def direct_turn(engine: Engine, request: GenerationRequest) -> Reply:
    """One generation straight from the engine, timed as api_turn times its turn."""
    start = time.perf_counter()
    pieces: list[str] = []
    ttft: float | None = None
    usage = Usage()
    finish: str | None = None
    async for chunk in engine.generate(request):
        if chunk.text:
            ttft = ttft if ttft is not None else time.perf_counter() - start
            pieces.append(chunk.text)
        usage = chunk.usage or usage
        finish = chunk.finish_reason or finish
    return Reply(
        text="".join(pieces),
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        finish_reason=finish,
        seconds=time.perf_counter() - start,
        ttft_s=ttft,
        cached_tokens=usage.cached_tokens,
    )


async def warm_up(engine: Engine) -> None:
    """One tiny generation unrelated to any persona: first-call allocations are paid here,
    and no persona prefix gets cached."""
    request = GenerationRequest(
        messages=(ChatMessage("user", "Say hi."),), max_tokens=4, temperature=0.0, top_p=TOP_P
    )
    async for _ in engine.generate(request):
        pass


# ---------------------------------------------------------------- reporting


def warn_if_busy() -> None:
    """Say so when other processes already load the machine: every timing is then suspect."""
    if not hasattr(os, "getloadavg"):
        return
    load = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    if load > cores:
        print(
            f"warning: load average {load:.1f} on {cores} cores before starting; other processes "
            "compete for the CPU, so expect noisy timings (medians are used to damp them)"
        )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    print("  ".join("-" * w for w in widths))
    for row, raw in zip(cells, rows, strict=True):
        # Text left, numbers right, as a reader scans them.
        print(
            "  ".join(
                c.ljust(w) if isinstance(v, str) else c.rjust(w)
                for c, w, v in zip(row, widths, raw, strict=True)
            ).rstrip()
        )


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def machine_info(engine: Engine | None = None, settings: Settings | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "personae": _version("personae"),
        "xllamacpp": _version("xllamacpp"),
    }
    if hasattr(os, "getloadavg"):  # other processes on a shared machine skew every timing
        info["load_average"] = os.getloadavg()
    with contextlib.suppress(ImportError):
        import psutil

        info["memory_mb"] = round(psutil.virtual_memory().total / 2**20)
    if engine is not None:
        info["engine"] = asdict(engine.info)
    if settings is not None:
        info["threads"] = settings.threads
        info["parallel"] = settings.parallel
        info["context_window"] = settings.context_window
        info["prompt_cache_mib"] = settings.prompt_cache_mib
    return info


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def write_json(path: Path | None, result: dict[str, Any]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"wrote {path}")


def reply_json(reply: Reply) -> dict[str, Any]:
    return asdict(reply)
