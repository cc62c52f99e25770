"""Send pacing's token buckets, on an explicit clock."""

from __future__ import annotations

import asyncio
import time

import pytest

from personae.contracts import ChannelAbilities
from personae.delivery.pacing import Pacer, TokenBucket


def test_a_burst_is_served_in_turn_at_the_rate() -> None:
    bucket = TokenBucket(rate=1.0, burst=1.0, stamp=0.0)
    assert [bucket.reserve(now=0.0) for _ in range(3)] == [0.0, 1.0, 2.0]


def test_a_late_send_moves_the_chats_next_turn_back_by_as_much() -> None:
    on_time, late = TokenBucket(1.0, 1.0, stamp=0.0), TokenBucket(1.0, 1.0, stamp=0.0)
    assert on_time.reserve(now=0.0) == late.reserve(now=0.0) == 0.0
    late.late(0.3)  # its send started 0.3 s after its turn (a slow claim in the store)
    # The next message, asked for once the first was sent (lanes send one row at a time):
    assert on_time.reserve(now=0.35) == pytest.approx(0.65)  # 0.7 s after the late send
    assert late.reserve(now=0.35) == pytest.approx(0.95)  # 1.0 s after it, as the chat allows


def test_an_early_or_punctual_send_changes_nothing() -> None:
    bucket = TokenBucket(rate=0.5, burst=2.0, stamp=0.0)
    bucket.reserve(now=0.0)
    bucket.late(0.0)
    bucket.late(-1.0)
    assert bucket.tokens == 1.0


async def test_a_sleep_that_overran_counts_as_late_and_spaces_the_next_send() -> None:
    """The pacer says when a send was due (its planned time), not when the loop woke: a
    loop held up past it makes the send late, and the chat's next turn moves back."""
    pacer = Pacer()
    chat = ChannelAbilities(name="t", max_text_len=100, chat_sends_per_s=5.0)  # 0.2 s apart
    first = await pacer.wait(chat, "acct", "c1")
    pacer.sending(chat, "acct", "c1", first)
    asked = time.monotonic()
    waiting = asyncio.ensure_future(pacer.wait(chat, "acct", "c1"))
    await asyncio.sleep(0)  # it reserved its turn, about 0.2 s away, and sleeps
    time.sleep(0.5)  # noqa: ASYNC251 -- on purpose: the loop is held past that turn
    due = await waiting
    assert due - asked < 0.3, "the planned time, not the wake-up"
    started = time.monotonic()
    pacer.sending(chat, "acct", "c1", due)
    after = await pacer.wait(chat, "acct", "c1")
    assert after - started >= 0.19, "the next send keeps its distance from the late one"
