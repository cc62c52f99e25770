"""Conversation lanes: FIFO per key, independent across keys, nothing left behind."""

from __future__ import annotations

import asyncio

from personae.core.lanes import Lanes


async def test_lanes_keep_arrival_order_and_are_released() -> None:
    lanes = Lanes()
    order: list[str] = []

    async def turn(key: str, name: str) -> None:
        async with lanes.hold(key):
            order.append(f"{name}:in")
            await asyncio.sleep(0.005)
            order.append(f"{name}:out")

    await asyncio.gather(turn("a", "a1"), turn("a", "a2"), turn("b", "b1"), turn("a", "a3"))
    a_only = [step for step in order if step.startswith("a")]
    assert a_only == ["a1:in", "a1:out", "a2:in", "a2:out", "a3:in", "a3:out"]
    assert order.index("b1:in") < order.index("a1:out"), "another key does not wait"
    assert len(lanes) == 0, "idle lanes are dropped, so they cannot pile up"
