"""Markdown in each channel's formatting, sentence-boundary splitting, the 24-hour window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from personae.channels.formatting import (
    split_text,
    to_plain,
    to_telegram_html,
    to_whatsapp,
)
from personae.channels.telegram import ABILITIES as TELEGRAM
from personae.channels.whatsapp import ABILITIES as WHATSAPP
from personae.channels.window import window_refusal, within_window

REPLY = """\
# Plan

Try **this**, *that* and ~~not this~~: `a<b & c`.
- see [the docs](https://x.y/?a=1&b=2)

```py
if a < b: print("**as is**")
```"""


def test_whatsapp_markers() -> None:
    assert to_whatsapp(REPLY) == (
        "*Plan*\n\nTry *this*, _that_ and ~not this~: `a<b & c`.\n"
        "• see the docs (https://x.y/?a=1&b=2)\n\n"
        '```if a < b: print("**as is**")\n```'
    )


def test_telegram_html_escapes_text_and_code() -> None:
    assert to_telegram_html(REPLY) == (
        "<b>Plan</b>\n\nTry <b>this</b>, <i>that</i> and <s>not this</s>: "
        "<code>a&lt;b &amp; c</code>.\n"
        '• see <a href="https://x.y/?a=1&amp;b=2">the docs</a>\n\n'
        '<pre>if a &lt; b: print("**as is**")</pre>'
    )
    assert to_telegram_html("1 < 2 > 0 & <script>") == "1 &lt; 2 &gt; 0 &amp; &lt;script&gt;"


def test_plain_text_drops_the_markers() -> None:
    assert to_plain(REPLY) == (
        "Plan\n\nTry this, that and not this: a<b & c.\n"
        "• see the docs (https://x.y/?a=1&b=2)\n\n"
        'if a < b: print("**as is**")'
    )
    assert to_plain("snake_case_name and 2*3*4") == "snake_case_name and 2*3*4"


def test_split_prefers_paragraphs_then_sentences_then_words() -> None:
    assert split_text("short", 10) == ["short"]
    para = "First paragraph here.\n\nSecond one."
    assert split_text(para, 25) == ["First paragraph here.", "Second one."]
    assert split_text("One two. Three four five. Six.", 20) == [
        "One two.",
        "Three four five.",
        "Six.",
    ]
    assert split_text("word " * 10, 12) == [
        "word word",
        "word word",
        "word word",
        "word word",
        "word word",
    ]
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]
    assert all(len(p) <= 50 for p in split_text("Sentence one is here! " * 40, 50))


@pytest.mark.parametrize(
    ("ago", "allowed"),
    [
        (None, False),
        (timedelta(hours=23, minutes=59), True),
        (timedelta(hours=24), False),
        (timedelta(minutes=-5), False),
    ],
)
def test_the_customer_service_window(ago: timedelta | None, allowed: bool) -> None:
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    assert within_window(None if ago is None else now - ago, now) is allowed


def test_a_closed_window_is_a_permanent_refusal_except_on_telegram() -> None:
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    assert window_refusal(WHATSAPP, now - timedelta(hours=2), now) is None
    refused = window_refusal(WHATSAPP, now - timedelta(hours=30), now)
    assert refused is not None and (refused.outcome, refused.code) == (
        "permanent",
        "outside_window",
    )
    assert "within 24 hours" in (refused.error or "") and "template" in (refused.error or "")
    assert window_refusal(TELEGRAM, None, now) is None
