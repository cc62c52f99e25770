"""Background work waits while the event loop runs late, and only then (work/pressure.py)."""

from __future__ import annotations

import asyncio
import time

from personae.work.pressure import LoopPressure


async def _flood(pressure: LoopPressure | None, seconds: float) -> None:
    """Requests piling up: callbacks that each hold the loop for 10 ms (noted as requests,
    or, with ``pressure`` None, the loop merely slow)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if pressure is not None:
            pressure.note_request()
        time.sleep(0.01)  # noqa: ASYNC251 - holding the loop is the point
        await asyncio.sleep(0)


async def test_calm_returns_at_once_on_an_idle_loop() -> None:
    pressure = LoopPressure()
    pressure.start()
    try:
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await pressure.calm()
        assert time.monotonic() - started < 0.02 and not pressure.busy
    finally:
        await pressure.aclose()


async def test_background_work_waits_for_a_flood_to_pass() -> None:
    pressure = LoopPressure(max_wait_s=5.0)
    pressure.start()
    try:
        await asyncio.sleep(0.05)
        flood = asyncio.create_task(_flood(pressure, 0.6))
        await asyncio.sleep(0.1)
        assert pressure.busy, f"a loop 10 ms late per callback reads {pressure.lag_ms:.1f} ms"
        started = time.monotonic()
        await pressure.calm()
        waited = time.monotonic() - started
        assert flood.done(), "background work ran while requests were still waiting"
        assert 0.3 < waited < 2.0
    finally:
        await pressure.aclose()


async def test_calm_never_waits_longer_than_its_limit() -> None:
    pressure = LoopPressure(max_wait_s=0.3)
    pressure.start()
    try:
        await asyncio.sleep(0.05)
        flood = asyncio.create_task(_flood(pressure, 2.0))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await pressure.calm()
        assert time.monotonic() - started < 1.0 and not flood.done()
        await flood
    finally:
        await pressure.aclose()


async def test_a_loop_slow_without_requests_holds_nothing_back() -> None:
    pressure = LoopPressure(max_wait_s=5.0)
    pressure.start()
    try:
        await asyncio.sleep(0.05)
        flood = asyncio.create_task(_flood(None, 0.6))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await pressure.calm()
        assert time.monotonic() - started < 0.05 and not flood.done()
        await flood
    finally:
        await pressure.aclose()
