"""Markdown replies in each channel's own formatting, split at the channel's length limit.

Models write markdown; WhatsApp has its own markers (*bold* _italic_ ~strike~ ```mono```),
Telegram takes a subset of HTML (easier to escape safely than MarkdownV2), and Messenger and
Instagram show plain text. Splitting happens on the markdown, before conversion, so a part never
grows past the limit (conversion only removes characters, or adds Telegram tags that do not count).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

_CODE = re.compile(r"```(?:[\w+-]*\n)?(.*?)```|`([^`\n]+)`", re.DOTALL)
_LINK = re.compile(r"\[([^\]\n]+)\]\((\S+?)\)")
_BOLD = re.compile(r"\*\*(?!\s)(.+?)(?<!\s)\*\*|__(?!\s)(.+?)(?<!\s)__")
_STRIKE = re.compile(r"~~(?!\s)(.+?)(?<!\s)~~")
_ITALIC = re.compile(
    r"(?<![\w*])\*(?![\s*])([^*\n]+?)(?<!\s)\*(?![\w*])|(?<![\w_])_(?![\s_])([^_\n]+?)(?<!\s)_(?![\w_])"
)
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*$", re.MULTILINE)
_BULLET = re.compile(r"^(\s*)[-*+]\s+", re.MULTILINE)
_HOLD = "\x00{}\x00"
_HELD = re.compile("\x00(\\d+)\x00")


def _convert(
    text: str,
    code: Callable[[str, bool], str],
    escape: Callable[[str], str],
    bold: Callable[[str], str],
    italic: Callable[[str], str],
    strike: Callable[[str], str],
    link: Callable[[str, str], str],
) -> str:
    held: list[str] = []

    def hold(match: re.Match[str]) -> str:
        block = match.group(1) is not None
        held.append(code(match.group(1) if block else match.group(2), block))
        return _HOLD.format(len(held) - 1)

    text = _CODE.sub(hold, text)
    text = escape(text)
    text = _LINK.sub(lambda m: link(m.group(1), m.group(2)), text)
    # Bold is marked first and rendered last, so its markers are not read as italics.
    text = _HEADING.sub(lambda m: "\x01" + m.group(1) + "\x02", text)
    text = _BOLD.sub(lambda m: "\x01" + (m.group(1) or m.group(2)) + "\x02", text)
    text = _STRIKE.sub(lambda m: strike(m.group(1)), text)
    text = _ITALIC.sub(lambda m: italic(m.group(1) or m.group(2)), text)
    text = re.sub("\x01(.*?)\x02", lambda m: bold(m.group(1)), text, flags=re.DOTALL)
    text = _BULLET.sub(lambda m: m.group(1) + "• ", text)
    return _HELD.sub(lambda m: held[int(m.group(1))], text)


def to_whatsapp(text: str) -> str:
    return _convert(
        text,
        code=lambda body, block: f"```{body}```" if block else f"`{body}`",
        escape=lambda s: s,
        bold=lambda s: f"*{s}*",
        italic=lambda s: f"_{s}_",
        strike=lambda s: f"~{s}~",
        link=lambda label, url: label if label == url else f"{label} ({url})",
    )


def to_telegram_html(text: str) -> str:
    def code(body: str, block: bool) -> str:
        inner = html.escape(body.strip("\n") if block else body, quote=False)
        return f"<pre>{inner}</pre>" if block else f"<code>{inner}</code>"

    return _convert(
        text,
        code=code,
        escape=lambda s: html.escape(s, quote=False),
        bold=lambda s: f"<b>{s}</b>",
        italic=lambda s: f"<i>{s}</i>",
        strike=lambda s: f"<s>{s}</s>",
        link=lambda label, url: f'<a href="{url.replace(chr(34), "%22")}">{label}</a>',
    )


def to_plain(text: str) -> str:
    return _convert(
        text,
        code=lambda body, block: body.strip("\n") if block else body,
        escape=lambda s: s,
        bold=lambda s: s,
        italic=lambda s: s,
        strike=lambda s: s,
        link=lambda label, url: label if label == url else f"{label} ({url})",
    )


_SENTENCE_END = re.compile(r"[.!?…。](?:[\"')\]]*)(?=\s)")


def split_text(text: str, limit: int) -> list[str]:
    """Parts of at most ``limit`` characters, cut at a paragraph, sentence, line or word end."""
    text = text.strip()
    parts: list[str] = []
    while len(text) > limit:
        cut = _cut_point(text[: limit + 1], limit)
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        parts.append(text)
    return parts


def _cut_point(window: str, limit: int) -> int:
    """Where to cut ``window`` (limit + 1 characters, so a boundary right at the limit counts)."""
    floor = limit // 3  # a much earlier boundary would leave a runt part
    paragraph = window.rfind("\n\n", 0, limit)
    if paragraph > floor:
        return paragraph
    sentences = [m.end() for m in _SENTENCE_END.finditer(window) if m.end() <= limit]
    if sentences and sentences[-1] > floor:
        return sentences[-1]
    for mark in ("\n", " "):
        at = window.rfind(mark, 0, limit)
        if at > floor:
            return at
    return limit
