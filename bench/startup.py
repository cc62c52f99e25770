"""P5 + P7 — start-up time and idle memory of `personae up`.

Each run spawns the installed console script with a fresh PERSONAE_HOME on a free port, times
process start -> GET /healthz answering 200 (the server answers only once the store is open and
the model loaded), idles, reads the resident memory of the process and its children, then sends
SIGINT and checks that it exits cleanly.

    .venv/bin/python bench/startup.py --json bench/results/startup.json
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from _common import (
    free_port,
    fresh_home,
    machine_info,
    median,
    parser,
    print_table,
    verdict,
    warn_if_busy,
    write_json,
)

READY_TARGET_S = 3.0
RSS_TARGET_MB = 400.0


def console_script() -> str:
    """The `personae` next to this interpreter (the venv's), else the one on PATH."""
    beside = Path(sys.executable).parent / "personae"
    found = str(beside) if beside.exists() else shutil.which("personae")
    if found is None:
        raise SystemExit("no `personae` console script found; run `make install` first")
    return found


def child_env(home: Path, args: argparse.Namespace) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERSONAE_")}
    env["PERSONAE_HOME"] = str(home)
    if args.model:
        env["PERSONAE_MODEL"] = args.model
    return env


def wait_ready(url: str, proc: subprocess.Popen[bytes], start: float, limit_s: float) -> float:
    """Seconds from ``start`` until /healthz answers 200; polls every 10 ms."""
    with httpx.Client(timeout=2.0) as client:
        while time.perf_counter() - start < limit_s:
            if proc.poll() is not None:
                raise RuntimeError(f"`personae up` exited with code {proc.returncode} at start")
            try:
                if client.get(url).status_code == 200:
                    return time.perf_counter() - start
            except httpx.TransportError:
                pass
            time.sleep(0.01)
    raise RuntimeError(f"/healthz did not answer 200 within {limit_s:g} s")


def rss_mb(pid: int) -> float:
    process = psutil.Process(pid)
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return float(total) / 2**20


def stop(proc: subprocess.Popen[bytes], limit_s: float) -> tuple[int, float]:
    """SIGINT, then wait; returns (exit code, seconds to exit). A hang is killed: code -9."""
    start = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=limit_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        code = -9
    return code, time.perf_counter() - start


def one_run(args: argparse.Namespace) -> dict[str, Any]:
    with fresh_home() as home:
        port = free_port()
        command = [console_script(), "up", "--port", str(port), "--engine", args.engine]
        log_path = home / "server.log"
        with log_path.open("wb") as log:
            start = time.perf_counter()
            proc = subprocess.Popen(
                command, env=child_env(home, args), stdout=log, stderr=subprocess.STDOUT
            )
            try:
                ready = wait_ready(f"http://127.0.0.1:{port}/healthz", proc, start, args.limit)
                time.sleep(args.idle)
                rss = rss_mb(proc.pid)
            except BaseException:
                proc.kill()
                proc.wait()
                print(log_path.read_text(errors="replace")[-3000:], file=sys.stderr)
                raise
            code, exit_s = stop(proc, args.limit)
        output = log_path.read_text(errors="replace")
    return {"ready_s": ready, "rss_mb": rss, "exit_code": code, "exit_s": exit_s, "log": output}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    runs = [one_run(args) for _ in range(args.runs)]
    ready = median([r["ready_s"] for r in runs])
    rss = median([r["rss_mb"] for r in runs])
    codes = [r["exit_code"] for r in runs]
    return {
        "benchmark": "startup",
        "target": f"ready_s <= {READY_TARGET_S}, rss_mb <= {RSS_TARGET_MB}, clean exit",
        "ready_s": ready,
        "rss_mb": rss,
        "rss_mb_max": max(r["rss_mb"] for r in runs),
        "exit_codes": codes,
        "pass_ready": ready <= READY_TARGET_S,
        "pass_rss": rss <= RSS_TARGET_MB,
        "clean_exit": all(code == 0 for code in codes),
        "engine": args.engine,
        "idle_s": args.idle,
        "runs": runs,
        "machine": machine_info(),
    }


def report(result: dict[str, Any]) -> None:
    rows = [
        [i + 1, r["ready_s"], r["rss_mb"], r["exit_code"], r["exit_s"]]
        for i, r in enumerate(result["runs"])
    ]
    print_table(["run", "ready_s", "rss_mb", "exit code", "exit_s"], rows)
    print()
    print(
        f"P5 start-up      ready_s {result['ready_s']:.2f} (median)  "
        f"target <= {READY_TARGET_S}  {verdict(result['pass_ready'])}"
    )
    print(
        f"P7 idle memory   rss_mb {result['rss_mb']:.0f} (median)  "
        f"target <= {RSS_TARGET_MB:.0f}  {verdict(result['pass_rss'])}"
    )
    print(
        f"SIGINT exit      codes {result['exit_codes']}  "
        f"{'clean' if result['clean_exit'] else 'NOT clean (expected 0)'}"
    )


def main() -> None:
    p = parser(__doc__.splitlines()[0] if __doc__ else "startup")
    p.add_argument("--runs", type=int, default=3, help="start-ups to take the median of")
    p.add_argument("--idle", type=float, default=2.0, help="seconds idle before reading RSS")
    p.add_argument("--limit", type=float, default=60.0, help="give up on a start after this")
    args = p.parse_args()
    warn_if_busy()
    result = measure(args)
    report(result)
    write_json(args.json, result)


if __name__ == "__main__":
    main()
