"""The web chat in real Chromium: pick a persona, see the greeting, watch a reply stream in,
reload and find the conversation again. Saves tests/artifacts/webchat.png."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from .live import LiveServer

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPLY = "li.from-persona:last-child .bubble"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        message = f"Chromium is not at {CHROMIUM}; install it with `apt-get install -y chromium`"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


def watch_reply(page: Page, timeout_s: float = 20.0) -> list[str]:
    """The reply bubble's text, sampled while it streams, until it is complete."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        bubble = page.locator(REPLY)
        # The class first: once it says "done", the text read after it is the final one.
        streaming = "streaming" in (bubble.get_attribute("class") or "")
        text = bubble.text_content() or ""
        if text and (not seen or seen[-1] != text):
            seen.append(text)
        if text and not streaming:
            return seen
        page.wait_for_timeout(20)
    raise AssertionError(f"the reply did not finish within {timeout_s} s; saw {seen!r}")


def test_web_chat_streams_and_survives_reload(live: LiveServer, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1000, "height": 720})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live.url)
    page.locator('[data-persona="story-teller"]').click()
    page.get_by_text("Welcome, traveller. Shall I tell you a story?").wait_for()
    assert page.url.endswith("#/p/story-teller")

    box = page.get_by_label("Your message")
    box.fill("once upon a time in a quiet green valley")
    box.press("Enter")
    seen = watch_reply(page)
    final = "echo: once upon a time in a quiet green valley"
    assert seen[-1] == final
    growing = [text for text in seen if text != final]
    assert len(growing) >= 3, f"the reply did not stream visibly: {seen!r}"
    assert all(final.startswith(text) for text in growing)
    assert box.input_value() == ""

    page.reload()
    page.get_by_text("Welcome, traveller. Shall I tell you a story?").wait_for()
    page.locator(REPLY, has_text=final).wait_for()
    bubbles = page.locator(".messages .bubble").all_text_contents()
    assert bubbles[1:] == ["once upon a time in a quiet green valley", final]
    assert page.locator("#messages").get_attribute("aria-live") == "polite"

    box.fill("And then?")
    box.press("Enter")
    assert watch_reply(page)[-1] == "echo: And then?"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "webchat.png"))
    assert not errors, errors
    context.close()
