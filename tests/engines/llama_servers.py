"""Real llama.cpp HTTP servers (xllamacpp), each in its own process so a test can SIGKILL it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
STRICT_TEMPLATE = HERE / "strict_template.jinja"


@dataclass
class LlamaServer:
    port: int
    parallel: int = 2
    context: int = 1024
    template: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, wait_s: float = 60.0) -> LlamaServer:
        return self.spawn().wait(wait_s)

    def spawn(self) -> LlamaServer:
        """Start the process; ``wait`` for it to answer (start several, then wait for all)."""
        args = [sys.executable, str(HERE / "llama_proc.py"), str(self.port),
                str(self.parallel), str(self.context)]  # fmt: skip
        if self.template is not None:
            args.append(str(self.template))
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def wait(self, wait_s: float = 60.0) -> LlamaServer:
        assert self.process is not None, "spawn first"
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama.cpp server on port {self.port} exited at start")
            try:
                if httpx.get(f"{self.base_url}/models", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"llama.cpp server on port {self.port} did not start")

    def kill(self) -> None:
        """SIGKILL: no goodbye on open streams, exactly like a crashed machine."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None


def endpoints_yaml(model: str, servers: list[str], concurrency: int = 2, **extra: str) -> str:
    lines = ["models:", f"  - name: {model}", "    context_window: 1024"]
    lines += [f"    {k}: {v}" for k, v in extra.items()]
    lines.append("    endpoints:")
    for url in servers:
        lines += [f"      - base_url: {url}", f"        concurrency: {concurrency}"]
    return "\n".join(lines) + "\n"
