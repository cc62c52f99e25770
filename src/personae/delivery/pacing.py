"""Send pacing: async token buckets per account and per chat, in this process.

A caller reserves its token at once (the bucket may go negative) and then sleeps until it is
its turn, so callers are served in the order they asked: a burst to one person goes out in
order, spaced at the chat's rate, without a reply storm. A distributed deployment would keep
the same buckets in a shared store.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from personae.contracts import ChannelAbilities


@dataclass
class TokenBucket:
    rate: float  # tokens per second
    burst: float  # most tokens held at once
    tokens: float = field(init=False)
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def reserve(self, now: float | None = None) -> float:
        """Take one token now; the seconds to wait before using it."""
        now = time.monotonic() if now is None else now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def late(self, seconds: float) -> None:
        """The token taken last was used ``seconds`` after its turn (the send waited for the
        store): the next turns move back by as much, so the platform still sees them spaced."""
        if seconds > 0:
            self.tokens -= seconds * self.rate


class Pacer:
    """Buckets per (channel, account) and per (channel, account, chat), built on first use."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, ...], TokenBucket] = {}

    async def wait(self, abilities: ChannelAbilities, account: str, chat: str) -> float:
        """Wait for the account's and the chat's turn; returns when it was due
        (``time.monotonic()``, for ``sending``): the planned time, not the wake-up, so a sleep
        that overran on a busy loop counts as late too."""
        asked = time.monotonic()
        waits = [0.0]
        if abilities.sends_per_s:
            burst = max(1.0, abilities.sends_per_s)
            waits.append(self._bucket((abilities.name, account), abilities.sends_per_s, burst))
        if abilities.chat_sends_per_s:
            key = (abilities.name, account, chat)
            rate, burst = abilities.chat_sends_per_s, float(max(1, abilities.chat_burst))
            waits.append(self._bucket(key, rate, burst))
        delay = max(waits)
        if delay > 0:
            await asyncio.sleep(delay)
        return asked + delay

    def sending(self, abilities: ChannelAbilities, account: str, chat: str, due: float) -> None:
        """The send of the turn that was due at ``due`` starts now. Late (the row was claimed
        in the store first: a slow commit), it moves the chat's next turn back by as much: a
        chat allowed one message a second must not get two 0.8 s apart."""
        bucket = self._buckets.get((abilities.name, account, chat))
        if bucket is not None:
            bucket.late(time.monotonic() - due)

    def _bucket(self, key: tuple[str, ...], rate: float, burst: float) -> float:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(rate, burst)
        return bucket.reserve()
