"""Keeping a reply a chat reply: it ends at a leaked speaker label or at a repeated sentence.

A small model often keeps writing after its answer: it plays the person ("User: What?"), or
repeats a line until the length limit. ``ReplyCutter`` watches the stream and ends the reply at
the first such segment (a line, or a sentence within a line). To cut *before* the bad segment
while still streaming, it holds back only the current segment while that could still turn out
to be a label or a repeat (it is a prefix of one); everything else is released at once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Speaker labels a chat model leaks when it writes the script instead of its reply.
GENERIC_LABELS = ("user", "the user", "human", "assistant", "ai", "you", "me", "person")
# Repeats shorter than this (after normalising) are normal speech: "Yes.", "Day 1:".
MIN_REPEAT_CHARS = 12
# Markdown a label may hide behind at the start of a line: "**User:**", "> User:", "- User:".
_DECORATION = " \t*_>-#"
_SENTENCE_END = re.compile(r"[.!?…](?=\s)|\n")
# A loop below the sentence level ("¡Hola! ¡Hola! ¡Hola!", "-bit-bit-bit", "and I can help
# you, and I can help you, and ..."): the text's tail is one chunk said LOOP_TIMES times in a
# row. Chunks up to LOOP_MAX_CHARS long, with at least LOOP_MIN_ALNUM letters or digits ("ha"
# three times, or a row of dashes, is normal writing).
LOOP_TIMES = 3
LOOP_MAX_CHARS = 80
LOOP_MIN_ALNUM = 3
_NON_WORD = re.compile(r"[\W_]+")


def _normal(text: str) -> str:
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


class ReplyCutter:
    """Feeds on a reply's text as it streams; says what may be shown and when it must end."""

    def __init__(self, persona_name: str, extra_labels: Sequence[str] = ()) -> None:
        names = {persona_name.strip().lower(), *GENERIC_LABELS, *(x.lower() for x in extra_labels)}
        self._labels = tuple(sorted(n for n in names if n))
        self._own = persona_name.strip().lower()
        self._seen: set[str] = set()
        self._segment = ""  # the current segment so far
        self._shown = 0  # how much of it has been released
        self._line_start = True  # the current segment starts a line
        self._shown_any = False
        self._fed = ""  # everything fed so far
        self._released = 0  # how much of it was shown
        self.cut_reason: str | None = None

    @property
    def cut(self) -> bool:
        return self.cut_reason is not None

    def feed(self, text: str) -> str:
        """The part of the reply, up to and including ``text``, that may be shown now."""
        if self.cut:
            return ""
        self._segment += text
        out: list[str] = []
        while not self.cut and (end := _SENTENCE_END.search(self._segment)) is not None:
            segment, self._segment = self._segment[: end.end()], self._segment[end.end() :]
            out.append(self._complete(segment))
        if not self.cut and self._segment:
            out.append(self._partial())
        return self._unless_looping(text, "".join(out))

    def finish(self) -> str:
        """At the end of the stream: the held tail, judged as a complete segment."""
        if self.cut or self._shown == len(self._segment):
            return ""
        segment, self._segment = self._segment, ""
        return self._unless_looping("", self._complete(segment))

    def _unless_looping(self, fed: str, shown: str) -> str:
        """``shown``, unless the text has started looping: then what comes before the loop's
        second round (what is not out already) and the end of the reply."""
        self._fed += fed
        start = loop_start(self._fed)
        if start is not None and not self.cut:
            self.cut_reason = "loop"
            shown = self._fed[self._released : start].rstrip() if start > self._released else ""
        self._released += len(shown)
        self._shown_any = self._shown_any or bool(shown.strip())
        return shown

    def _partial(self) -> str:
        """An unfinished segment: show it unless it could still become a label or a repeat
        (or is only the space before one: a cut reply should not end in a dangling space)."""
        segment = self._segment
        if not segment.strip() or self._could_be_label(segment) or self._could_be_repeat(segment):
            return ""
        unshown, self._shown = self._segment[self._shown :], len(self._segment)
        return unshown

    def _complete(self, segment: str) -> str:
        unshown, self._shown = segment[self._shown :], 0
        line_start, self._line_start = self._line_start, segment.endswith("\n")
        if line_start and self._is_label(segment):
            opening = not self._shown_any and len(unshown) == len(segment)
            if opening and self._label_of(segment) == self._own:
                # "Theo: Hi!" opening the reply is the persona naming itself: drop the label.
                return segment.split(":", 1)[1].lstrip(" ")
            self.cut_reason = "speaker_label"
            return ""
        if self._is_repeat(segment):
            self.cut_reason = "repetition"
            return ""
        key = _normal(segment)
        if len(key) >= MIN_REPEAT_CHARS:
            self._seen.add(key)
        return unshown

    def _label_of(self, segment: str) -> str | None:
        head = segment.lstrip(_DECORATION)
        name, colon, _ = head.partition(":")
        name = name.strip(" *_").lower()
        return name if colon and name in self._labels else None

    def _is_label(self, segment: str) -> bool:
        return self._label_of(segment) is not None

    def _could_be_label(self, partial: str) -> bool:
        if not self._line_start:
            return False
        head = partial.lstrip(_DECORATION).lower()
        if ":" in head:
            return self._label_of(partial) is not None
        stripped = head.rstrip(" *_")
        return any(label.startswith(stripped) for label in self._labels) if stripped else True

    def _is_repeat(self, segment: str) -> bool:
        key = _normal(segment)
        return len(key) >= MIN_REPEAT_CHARS and key in self._seen

    def _could_be_repeat(self, partial: str) -> bool:
        key = _normal(partial)
        return bool(key) and any(seen.startswith(key) for seen in self._seen)


def loop_start(text: str) -> int | None:
    """Where the second round of a loop at the end of ``text`` starts, or None. The tail is
    a loop of ``size`` when it equals itself shifted by ``size`` over LOOP_TIMES rounds (so a
    round cut off mid-way still counts)."""
    body = text.rstrip()
    n = len(body)
    trivial: list[int] = []  # periods of loops too small to matter ("hahaha")
    for size in range(2, LOOP_MAX_CHARS + 1):
        span = size * LOOP_TIMES
        if span > n:
            break
        tail = body[n - span :]
        if tail[:-size] != tail[size:] or any(size % p == 0 for p in trivial):
            continue
        if sum(c.isalnum() for c in tail[-size:]) < LOOP_MIN_ALNUM:
            trivial.append(size)
            continue
        start = n - span  # walk back to where the loop began: cut at its second round
        while start > 0 and body[start - 1] == body[start - 1 + size]:
            start -= 1
        return start + size
    return None


def degenerate_reasons(text: str, persona_name: str) -> list[str]:
    """Why a finished reply is not a clean chat reply (empty: it is clean).

    The same rules as ``ReplyCutter``, applied after the fact: an empty reply, a speaker label
    at the start of a line, a repeated line or sentence.
    """
    if not text.strip():
        return ["empty"]
    probe = ReplyCutter(persona_name)
    probe.feed(text)
    probe.finish()
    return [probe.cut_reason] if probe.cut_reason else []
