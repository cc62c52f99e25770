"""The studio in real Chromium: sign in, create a persona from scratch (a validation error
beside the field, then fixed), test-chat it and open the trace, save two revisions, diff and
roll back, publish, import the shared Character Card, and read analytics after a few web
conversations; on a desktop and a phone-sized screen. Screenshots: tests/artifacts/studio-*.png.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from channels.platform import PHONE_ID, WA_TOKEN, PlatformServer
from personae.settings import Settings
from personae.stores.sql import SqlStore
from personae.stores.tokens import new_token

from .live import ADMIN_TOKEN, LiveServer, start_server, write_personas
from .test_api import sse_events
from .test_browser import ARGS, ARTIFACTS, CHROMIUM

pytestmark = pytest.mark.browser
_ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
OFFLINE = "http://127.0.0.1:9"
CARD = Path(__file__).resolve().parents[3] / "shared" / "data" / "cards" / "default_Seraphina.png"
if not CARD.exists():  # a worktree beside /work/main
    CARD = Path("/work/shared/data/cards/default_Seraphina.png")


@pytest.fixture(scope="module")
def platform() -> Iterator[PlatformServer]:
    """The loopback Graph / Bot API server, on a loop of its own (Playwright holds this one)."""
    state = PlatformServer()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    opening = asyncio.start_server(state.handle, "127.0.0.1", 0)
    listening = asyncio.run_coroutine_threadsafe(opening, loop).result(10)
    state.url = f"http://127.0.0.1:{listening.sockets[0].getsockname()[1]}"
    yield state
    loop.call_soon_threadsafe(listening.close)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, platform: PlatformServer
) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("studio-ui")
    settings = Settings(
        home=home, engine="scripted", admin_token=ADMIN_TOKEN, load_samples=False,
        personas_dir=write_personas(home / "personas"),
        telegram_api_base=OFFLINE,  # a bound bot's check meets a refused connection
        knowledge_max_bytes=100_000,  # so the too-large file stays small
        graph_api_base=platform.url,  # WhatsApp test messages reach the loopback platform
    )  # fmt: skip
    live = start_server(settings)
    yield live
    live.stop()


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


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"studio-{name}.png"), full_page=True)


def _sign_in(page: Page, server: LiveServer, token: str = ADMIN_TOKEN) -> None:
    page.goto(f"{server.url}/studio")
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def _creator_token(server: LiveServer, *slugs: str) -> str:
    token = new_token()

    async def make() -> None:
        store = await SqlStore.open(server.settings.resolved_database_url)
        try:
            await store.create_token("ui", "creator", list(slugs), token)
        finally:
            await store.aclose()

    # Playwright's sync API holds this thread's event loop: the store runs on another.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, make()).result()
    return token


def test_sign_in_refuses_a_wrong_token(browser: Browser, server: LiveServer) -> None:
    page = browser.new_page()
    page.goto(f"{server.url}/studio/personas/echo-friend")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    _sign_in(page, server, "pt_not-a-real-token")
    expect(page.get_by_role("alert")).to_contain_text("wrong, revoked or expired")
    assert "Ekko" not in page.content()
    _shot(page, "sign-in")
    page.close()


def test_create_validate_chat_revise_diff_rollback_publish(
    browser: Browser, server: LiveServer
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _sign_in(page, server)
    expect(page.get_by_role("heading", name="Personas")).to_be_visible()
    expect(page.get_by_role("link", name="Ekko")).to_be_visible()
    _shot(page, "list")

    page.get_by_role("link", name="New persona").click()
    page.get_by_label("Id", exact=True).fill("studio-lina")
    page.get_by_label("Greeting", exact=True).fill("Hi, I'm Lina.")
    page.get_by_label("Name", exact=True).fill("")
    page.get_by_label("Name", exact=True).press("Tab")
    name_error = page.locator("#f-name-error")
    expect(name_error).to_contain_text("at least 1 character")
    expect(page.get_by_label("Name", exact=True)).to_have_attribute("aria-invalid", "true")
    _shot(page, "validation")
    page.get_by_label("Name", exact=True).fill("Lina")
    expect(name_error).to_be_empty()
    expect(page.locator("#yaml")).to_have_value(
        __import__("re").compile(r"name: Lina")  # the YAML view follows the form
    )
    page.get_by_role("button", name="Save revision").click()
    page.wait_for_url("**/studio/personas/studio-lina")
    expect(page.locator("#status-badge")).to_have_text("Draft")

    page.get_by_label("Message", exact=True).fill("hello there")
    page.get_by_role("button", name="Send").click()
    reply = page.locator("#chat-log li.assistant").first
    expect(reply).to_contain_text("echo: hello there")
    reply.locator("summary").click()
    expect(reply.get_by_text("Prompt sections")).to_be_visible()
    _shot(page, "test-chat")

    page.get_by_label("Tagline", exact=True).fill("Plans trips")
    page.get_by_role("button", name="Save revision").click()
    expect(page.locator("#save-result")).to_contain_text("revision 2")
    expect(page.locator("#diff-form tbody tr")).to_have_count(2)
    page.get_by_role("button", name="Compare").click()
    diff = page.locator("#diff")
    expect(diff).to_contain_text("Revision 1 → 2")
    expect(diff.get_by_role("row", name="tagline")).to_contain_text("Plans trips")
    _shot(page, "diff")

    page.get_by_role("button", name="Roll back to 1").click()
    page.wait_for_url("**done=rollback-3**")
    expect(page.get_by_label("Tagline", exact=True)).to_have_value("")
    page.get_by_role("button", name="Publish 3").click()
    page.wait_for_url("**done=publish-3**")
    expect(page.locator("#status-badge")).to_have_text("Published")
    _shot(page, "revisions")
    with httpx.Client(base_url=server.url) as web:
        card = web.get("/web/personas/studio-lina/conversation").json()["persona"]
        assert card["name"] == "Lina" and card["tagline"] == ""
    page.close()


def test_a_stale_editor_gets_a_conflict(browser: Browser, server: LiveServer) -> None:
    context = browser.new_context()
    first, second = context.new_page(), context.new_page()
    _sign_in(first, server)
    for page in (first, second):
        page.goto(f"{server.url}/studio/personas/echo-friend")
    first.get_by_label("Tagline", exact=True).fill("From the first editor")
    first.get_by_role("button", name="Save revision").click()
    expect(first.locator("#save-result")).to_contain_text("Saved as revision")
    second.get_by_label("Tagline", exact=True).fill("From the second editor")
    second.get_by_role("button", name="Save revision").click()
    expect(second.locator("#save-result")).to_contain_text("changed since revision")
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ) as api:
        draft = api.get("/api/personas/echo-friend/draft").json()
        assert draft["persona"]["tagline"] == "From the first editor"
    context.close()


def test_import_the_shared_card(browser: Browser, server: LiveServer) -> None:
    page = browser.new_page()
    _sign_in(page, server)
    page.get_by_label("Card or persona file").set_input_files(str(CARD))
    page.wait_for_url("**/studio/personas/**")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Seraphina")
    expect(page.locator("#lore-entries fieldset").first).to_be_visible()
    _shot(page, "imported")
    page.close()


def test_a_creator_imports_a_card_into_their_own_persona(
    browser: Browser, server: LiveServer
) -> None:
    slug = "ui-own-card"
    with httpx.Client(base_url=server.url, headers=_ADMIN, timeout=30) as api:
        api.put(f"/api/personas/{slug}/draft", json={"id": slug, "name": "Plain", "greeting": "Hi"})
    token = _creator_token(server, slug)
    page = browser.new_page()
    _sign_in(page, server, token)
    page.goto(f"{server.url}/studio/personas/{slug}")
    page.get_by_label("A Character Card").set_input_files(str(CARD))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Seraphina", timeout=15_000)
    with httpx.Client(base_url=server.url, headers=_ADMIN, timeout=30) as api:
        draft = api.get(f"/api/personas/{slug}/draft").json()
        assert (draft["revision"], draft["persona"]["name"]) == (2, "Seraphina")
    page.close()


def test_a_bound_channel_is_tested_from_the_editor(browser: Browser, server: LiveServer) -> None:
    bot = {"kind": "telegram", "persona": "echo-friend", "name": "ui-bot",
           "bot_token": "123:ui-token", "mode": "polling"}  # fmt: skip
    with httpx.Client(base_url=server.url, headers=_ADMIN, timeout=30) as api:
        added = api.post("/api/channels", json=bot)
        assert added.status_code == 201, added.text
    page = browser.new_page()
    _sign_in(page, server)
    page.goto(f"{server.url}/studio/personas/echo-friend#connections")
    row = page.locator("#connections li", has_text="telegram: ui-bot")
    row.get_by_role("button", name="Test connection").click()
    # The platform is unreachable here: the check's own outcome and error come back shown.
    expect(row.get_by_role("status").first).to_contain_text("Failed (", timeout=20_000)
    assert "ui-token" not in row.inner_text()
    page.close()


def test_a_knowledge_document_is_uploaded_listed_and_deleted(
    browser: Browser, server: LiveServer, tmp_path: Path
) -> None:
    guide = tmp_path / "tea-guide.md"
    sections = [f"## Tea {n}\n\n" + f"Brew tea number {n} for {n + 2} minutes. " * 40
                for n in range(3)]  # fmt: skip
    guide.write_text("# Tea guide\n\n" + "\n\n".join(sections), encoding="utf-8")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _sign_in(page, server)
    page.goto(f"{server.url}/studio/personas/echo-friend#knowledge")
    box = page.locator("#knowledge")
    expect(box.get_by_text("No document yet.")).to_be_visible()
    box.get_by_label("Add a document").set_input_files(str(guide))
    expect(box.get_by_role("status")).to_contain_text("Added tea-guide.md", timeout=30_000)
    with httpx.Client(base_url=server.url, headers=_ADMIN, timeout=30) as api:
        docs = api.get("/api/personas/echo-friend/knowledge").json()["documents"]
    assert [d["name"] for d in docs] == ["tea-guide.md"] and docs[0]["chunks"] > 1
    row = box.get_by_role("row", name="tea-guide.md")
    expect(row.locator(".kb-chunks")).to_have_text(str(docs[0]["chunks"]))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    box.screenshot(path=str(ARTIFACTS / "studio-knowledge.png"))  # the section, not the page
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Delete tea-guide.md").click()
    expect(box.get_by_role("status")).to_contain_text("Deleted tea-guide.md")
    expect(box.get_by_text("No document yet.")).to_be_visible()
    with httpx.Client(base_url=server.url, headers=_ADMIN, timeout=30) as api:
        assert api.get("/api/personas/echo-friend/knowledge").json()["documents"] == []
    # Too large: refused in the page before a byte is sent, with what to do about it.
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * (server.settings.knowledge_max_bytes + 1))
    box.get_by_label("Add a document").set_input_files(str(big))
    expect(box.get_by_role("status")).to_contain_text("PERSONAE_KNOWLEDGE_MAX_BYTES")
    page.close()


def test_a_test_message_is_sent_from_the_editor(
    browser: Browser, server: LiveServer, platform: PlatformServer
) -> None:
    phone = {
        "kind": "whatsapp", "persona": "echo-friend", "phone_number_id": PHONE_ID,
        "access_token": WA_TOKEN, "app_secret": "ui-secret-0123", "verify_token": "v1",
    }  # fmt: skip
    with httpx.Client(base_url=server.url, headers=_ADMIN, timeout=30) as api:
        added = api.post("/api/channels", json=phone)
        assert added.status_code == 201, added.text
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _sign_in(page, server)
    page.goto(f"{server.url}/studio/personas/echo-friend#connections")
    form = page.locator("#connections li", has_text=f"whatsapp: {PHONE_ID}").locator("form")
    form.get_by_label("Recipient id on whatsapp").fill("15550001111")
    form.get_by_role("button", name="Send a test message").click()
    expect(form.get_by_role("status")).to_contain_text("Sent (message id wamid.OUT")
    sent = platform.sent(f"{PHONE_ID}/messages")
    assert [(b["to"], b["text"]["body"]) for b in sent] == [
        ("15550001111", "Test message from personae: this connection can send.")
    ]
    form.get_by_label("Recipient id on whatsapp").fill("1555 000")  # a space: refused, unsent
    form.get_by_role("button", name="Send a test message").click()
    expect(form.get_by_role("status")).to_contain_text("no spaces")
    expect(form.get_by_role("status")).not_to_contain_text("Sent")
    assert len(platform.sent(f"{PHONE_ID}/messages")) == 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("#connections").screenshot(path=str(ARTIFACTS / "studio-test-message.png"))
    page.close()


def test_analytics_after_a_few_conversations(browser: Browser, server: LiveServer) -> None:
    for person in range(3):
        with httpx.Client(base_url=server.url) as web:
            for text in ("hi", "how are you"):
                answer = web.post("/web/personas/echo-friend/messages", json={"text": text})
                reply = sse_events(answer)[-1][1]["reply"]["id"]
            web.post(f"/web/messages/{reply}/rating", json={"value": 1 if person else -1})
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _sign_in(page, server)
    page.goto(f"{server.url}/studio/analytics?persona=echo-friend")
    expect(page.locator('[data-metric="messages"]')).to_have_text("6")
    expect(page.locator('[data-metric="people"]')).to_have_text("3")
    expect(page.locator('[data-metric="ratings"]')).to_contain_text("👍 2 · 👎 1")
    drawn = page.evaluate(
        "['chart-daily','chart-active','chart-status','chart-safety']"
        ".every(id => window.Chart.getChart(id) !== undefined)"
    )
    assert drawn
    _shot(page, "analytics")
    page.close()


def test_phone_sized_screen(browser: Browser, server: LiveServer) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    _sign_in(page, server)
    for path, name in (("/studio", "phone-list"), ("/studio/personas/echo-friend", "phone-editor")):
        page.goto(f"{server.url}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width} px wide on a 390 px screen"
        _shot(page, name)
    page.close()


def test_rating_a_reply_in_the_web_chat(browser: Browser, server: LiveServer) -> None:
    context = browser.new_context(viewport={"width": 1000, "height": 720})
    page = context.new_page()
    page.goto(f"{server.url}/#/p/story-teller")
    box = page.get_by_label("Your message")
    box.fill("rate me")
    box.press("Enter")
    good = page.get_by_role("button", name="Good reply")
    good.click()
    expect(good).to_have_attribute("aria-pressed", "true")
    page.reload()  # the rating buttons come back with the stored conversation
    expect(page.get_by_role("button", name="Bad reply")).to_be_visible()
    page.get_by_role("button", name="Bad reply").click()
    expect(page.get_by_role("button", name="Bad reply")).to_have_attribute("aria-pressed", "true")
    page.screenshot(path=str(ARTIFACTS / "studio-webchat-rating.png"))
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=server.url, headers=headers) as api:
        found = api.get("/api/analytics", params={"persona": "story-teller"}).json()
        assert found["ratings"] == {"up": 0, "down": 1}
    context.close()


def test_a_creator_opens_a_rated_reply_with_its_trace(browser: Browser, server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as web:
        answer = web.post("/web/personas/story-teller/messages", json={"text": "a dull answer"})
        reply = sse_events(answer)[-1][1]["reply"]["id"]
        assert web.post(f"/web/messages/{reply}/rating", json={"value": -1}).status_code == 200
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _sign_in(page, server, _creator_token(server, "story-teller"))
    page.get_by_role("link", name="Ratings").click()
    page.get_by_label("Rating").select_option("down")
    page.get_by_role("button", name="Show").click()
    _shot(page, "ratings")
    page.get_by_role("link", name=re.compile("a dull answer")).click()
    rated = page.locator(f"#m{reply}")
    expect(rated).to_contain_text("rated bad")
    trace = rated.locator("details.trace")
    expect(trace).to_have_attribute("open", "")
    expect(trace.get_by_role("heading", name="Prompt sections")).to_be_visible()
    expect(trace.get_by_role("heading", name="Timings (ms)")).to_be_visible()
    expect(page.locator(".transcript .msg.user").first).to_contain_text("a dull answer")
    _shot(page, "rated-conversation")
    page.close()


def test_a_channel_is_bound_and_unbound_from_the_editor(
    browser: Browser, server: LiveServer
) -> None:
    page = browser.new_page()
    _sign_in(page, server)
    page.goto(f"{server.url}/studio/personas/echo-friend#connections")
    form = page.locator("#bind-channel")
    form.get_by_label("Channel").select_option("telegram")
    fields = form.get_by_label("Account fields")
    expect(fields).to_have_value(re.compile(r"^name: \nbot_token: env:TELEGRAM_TOKEN"))
    # A field the platform needs is missing: the API's own message, nothing bound.
    fields.fill("name: form-bot\nmode: polling")
    form.get_by_role("button", name="Bind to echo-friend").click()
    expect(form.get_by_role("status")).to_contain_text("bot_token", timeout=15_000)
    fields.fill("name: form-bot\nbot_token: '123:form-token'\nmode: polling")
    form.get_by_role("button", name="Bind to echo-friend").click()
    row = page.locator("#connections li", has_text="telegram: form-bot")
    expect(row).to_be_visible(timeout=15_000)
    with httpx.Client(base_url=server.url, headers=_ADMIN, timeout=30) as api:
        listed = api.get("/api/channels").json()["channels"]
    bound = [c for c in listed if c["key"] == "form-bot"]
    assert [(c["kind"], c["persona"]) for c in bound] == [("telegram", "echo-friend")]
    assert "form-token" not in page.content()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("#connections").screenshot(path=str(ARTIFACTS / "studio-connections.png"))
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Unbind").click()
    expect(page.locator("#connections li", has_text="telegram: form-bot")).to_have_count(
        0, timeout=15_000
    )
    page.close()
