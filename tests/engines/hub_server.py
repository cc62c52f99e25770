"""A Hugging Face hub on loopback: the two requests `hf_hub_download`-style clients make.

    HEAD /{owner}/{repo}/resolve/{revision}/{file}
        302 to the file's CDN URL (absolute, as the hub answers for LFS files) with
        X-Repo-Commit, X-Linked-Etag (the sha256), X-Linked-Size; 404 with X-Error-Code
        RepoNotFound / EntryNotFound as the hub sends them.
    GET /cdn/{sha256}
        the bytes, honouring ``Range: bytes=N-`` with 206 and Content-Range.

Faults a test can ask for, per file: drop the connection after some bytes for the first N
GETs (``drops``), or serve other bytes than the checksum says (``corrupt``).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class HubFile:
    data: bytes
    drops: int = 0  # GETs that break off at byte ``drop_at`` of the file
    drop_at: int = 0
    corrupt: bool = False

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class Hub:
    url: str = ""
    cdn_url: str = ""
    files: dict[str, HubFile] = field(default_factory=dict)  # "owner/repo/file" -> file
    seen: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, Range

    def add(self, name: str, data: bytes | Path, **faults: int | bool) -> HubFile:
        raw = data.read_bytes() if isinstance(data, Path) else data
        self.files[name] = HubFile(raw, **faults)  # type: ignore[arg-type]
        return self.files[name]

    def by_sha(self, sha: str) -> HubFile | None:
        return next((f for f in self.files.values() if f.sha256 == sha), None)

    def gets(self) -> list[str | None]:
        """The Range header of every file download so far."""
        return [rng for method, path, rng in self.seen if method == "GET" and "/cdn/" in path]


def _handler(hub: Hub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: object) -> None:
            return

        def do_HEAD(self) -> None:
            self._answer(head=True)

        def do_GET(self) -> None:
            self._answer(head=False)

        def _answer(self, head: bool) -> None:
            hub.seen.append((self.command, self.path, self.headers.get("Range")))
            path = self.path.split("?", 1)[0]
            if path.startswith("/cdn/"):
                self._serve(path.removeprefix("/cdn/"), head)
                return
            parts = path.strip("/").split("/")
            owner, repo = [*parts, "", ""][:2]
            name = "/".join([owner, repo, *parts[4:]])
            if len(parts) < 5 or parts[2] != "resolve":
                self._empty(404, {"X-Error-Code": "RepoNotFound"})
            elif not any(n.startswith(f"{owner}/{repo}/") for n in hub.files):
                self._empty(404, {"X-Error-Code": "RepoNotFound", "X-Error-Message": "no repo"})
            elif name not in hub.files:
                self._empty(404, {"X-Error-Code": "EntryNotFound", "X-Error-Message": "no file"})
            else:
                found = hub.files[name]
                self._empty(
                    302,
                    {
                        # Another host name, as the hub's CDN is: a HEAD stops at this answer.
                        "Location": f"{hub.cdn_url}/cdn/{found.sha256}",
                        "X-Repo-Commit": COMMIT,
                        "X-Linked-Etag": f'"{found.sha256}"',
                        "X-Linked-Size": str(len(found.data)),
                        "ETag": '"0000000000000000000000000000000000000000"',
                    },
                )

        def _serve(self, sha: str, head: bool) -> None:
            found = hub.by_sha(sha)
            if found is None:
                self._empty(404, {})
                return
            data = found.data if not found.corrupt else bytes(b ^ 0xFF for b in found.data)
            start = 0
            rng = self.headers.get("Range")
            if rng and rng.startswith("bytes=") and rng.endswith("-"):
                start = int(rng.removeprefix("bytes=").removesuffix("-"))
            body = data[start:]
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            if head:
                return
            if found.drops > 0 and start < found.drop_at:
                found.drops -= 1
                self.wfile.write(data[start : found.drop_at])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)  # the connection drops mid-body
                return
            self.wfile.write(body)

        def _empty(self, status: int, headers: dict[str, str]) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


class HubServer:
    def __init__(self) -> None:
        self.hub = Hub()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.hub))
        self.hub.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.hub.cdn_url = f"http://localhost:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
