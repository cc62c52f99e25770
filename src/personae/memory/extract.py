"""The offline extractor: durable facts from explicit self-statements and corrections.

Works with any engine (it uses none): patterns for what people say about themselves ("my
sister's name is Ana", "I live in Porto", "I'm allergic to peanuts", "I moved to Lisbon"),
each filling a slot (``key``) so that a later statement in the same slot retires the earlier
one. A correction ("actually, …", "no, …") is re-read as a statement; one that fills no slot
is still kept as a fact, because the person took the trouble to correct something.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from personae.types.memory import NewMemory

# A name or place: up to five words, stopped by punctuation or a joining word.
_THING = r"(?P<x>[^.,;!?\n]{1,60}?)"
_STOP_WORDS = (
    "and|but|because|so|since|now|though|anymore|not|last|next|yesterday|today|tomorrow|"
    "this|in|on|with|for|about|ago"
)
_END = rf"(?=\s*(?:[.,;!?\n]|$|\s+(?:{_STOP_WORDS})\b))"
_WHO = (
    r"(?P<who>sister|brother|mom|mother|dad|father|wife|husband|partner|boyfriend|girlfriend|"
    r"son|daughter|friend|best friend|boss|dog|cat|pet|grandma|grandmother|grandpa|"
    r"grandfather|aunt|uncle|cousin|roommate|teacher|doctor)"
)
_CORRECTION = re.compile(
    r"^\s*(?:actually|correction|wait|sorry|no|nope)\b[\s,:;!-]*", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class _Rule:
    pattern: re.Pattern[str]
    key: Callable[[re.Match[str]], str]
    text: Callable[[re.Match[str]], str]
    importance: float


def _rule(pattern: str, key: Callable[[re.Match[str]], str],
          text: Callable[[re.Match[str]], str], importance: float = 0.8) -> _Rule:  # fmt: skip
    return _Rule(re.compile(pattern + _END, re.IGNORECASE), key, text, importance)


def _x(m: re.Match[str]) -> str:
    return m.group("x").strip().strip("\"'")


RULES = (
    _rule(
        rf"\bmy {_WHO}(?:'s| is) name(?:d)? is {_THING}",
        lambda m: f"name_of:{m['who'].lower()}",
        lambda m: f"Their {m['who'].lower()}'s name is {_x(m)}",
        0.9,
    ),
    _rule(
        rf"\bmy {_WHO} is (?:called|named) {_THING}",
        lambda m: f"name_of:{m['who'].lower()}",
        lambda m: f"Their {m['who'].lower()}'s name is {_x(m)}",
        0.9,
    ),
    _rule(
        rf"\b(?:my name is|call me|i'm called|i am called) {_THING}",
        lambda m: "name",
        lambda m: f"Their name is {_x(m)}",
        0.9,
    ),
    _rule(
        rf"\bi (?:just |recently )?(?:moved|relocated) to {_THING}",
        lambda m: "home",
        lambda m: f"They live in {_x(m)}",
        0.9,
    ),
    _rule(
        rf"\bi(?:'m| am)? (?:now |currently )?(?:live|living|based|settled) in {_THING}",
        lambda m: "home",
        lambda m: f"They live in {_x(m)}",
        0.85,
    ),
    _rule(
        rf"\bi(?:'m| am) (?:severely |very |deathly )?allergic to {_THING}",
        lambda m: f"allergy:{_x(m).lower()}",
        lambda m: f"They are allergic to {_x(m)}",
        1.0,
    ),
    _rule(
        rf"\bi have an? {_THING} allergy",
        lambda m: f"allergy:{_x(m).lower()}",
        lambda m: f"They are allergic to {_x(m)}",
        1.0,
    ),
    _rule(
        rf"\bi(?:'m| am) (?:a )?(?:vegetarian|vegan|pescatarian|{_THING}-free)",
        lambda m: "diet",
        lambda m: f"Diet: {m.group(0).split(' ', 1)[1].strip()}",
        0.8,
    ),
    _rule(
        rf"\bmy (?P<what>[a-z ]{{2,30}}?)'?s? birthday is {_THING}",
        lambda m: f"birthday:{m['what'].strip().lower()}",
        lambda m: f"Their {m['what'].strip().lower()}'s birthday is {_x(m)}",
        0.8,
    ),
    _rule(
        rf"\bmy birthday is {_THING}",
        lambda m: "birthday",
        lambda m: f"Their birthday is {_x(m)}",
        0.85,
    ),
    _rule(
        rf"\bi work (?:as an?|as) {_THING}", lambda m: "job", lambda m: f"They work as {_x(m)}", 0.8
    ),
    _rule(
        rf"\bi work (?:at|for) {_THING}",
        lambda m: "employer",
        lambda m: f"They work at {_x(m)}",
        0.8,
    ),
    _rule(
        rf"\bmy favou?rite (?P<what>[a-z ]{{2,30}}?) is {_THING}",
        lambda m: f"favorite:{m['what'].strip().lower()}",
        lambda m: f"Their favorite {m['what'].strip().lower()} is {_x(m)}",
        0.7,
    ),
    _rule(
        rf"\bi (?:really )?(?:love|like|enjoy) {_THING}",
        lambda m: f"likes:{_x(m).lower()}",
        lambda m: f"They like {_x(m)}",
        0.5,
    ),
    _rule(
        rf"\bi (?:really )?(?:hate|dislike|can't stand|don't like) {_THING}",
        lambda m: f"likes:{_x(m).lower()}",
        lambda m: f"They dislike {_x(m)}",
        0.6,
    ),
    _rule(
        r"\bi(?:'m| am) (?P<n>\d{1,3}) years old",
        lambda m: "age",
        lambda m: f"They are {m['n']} years old",
        0.7,
    ),
)


def extract_facts(text: str, said_at: datetime) -> list[NewMemory]:
    """The facts a message states, in order; a correction that fits no rule is kept whole."""
    facts: list[NewMemory] = []
    seen: set[str] = set()
    correction = _CORRECTION.match(text)
    for rule in RULES:
        for match in rule.pattern.finditer(text):
            key = rule.key(match)
            if key in seen or not _x_ok(match):
                continue
            seen.add(key)
            boost = 0.1 if correction else 0.0
            refers = refers_to(text, said_at)
            facts.append(
                NewMemory("fact", rule.text(match), key, min(1.0, rule.importance + boost), refers)
            )
    if correction and not facts:
        rest = text[correction.end() :].strip()
        if len(rest.split()) >= 3:
            facts.append(NewMemory("fact", f"Correction: {rest}", None, 0.9))
    return facts


def _x_ok(match: re.Match[str]) -> bool:
    try:
        value = match.group("x")
    except IndexError:
        return True
    return value is None or (0 < len(value.split()) <= 6)


_MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for m in names
}
_RELATIVE = (
    (re.compile(r"\bday before yesterday\b", re.I), -2),
    (re.compile(r"\byesterday\b|\blast night\b", re.I), -1),
    (re.compile(r"\btoday\b|\btonight\b|\bthis morning\b", re.I), 0),
    (re.compile(r"\btomorrow\b", re.I), 1),
    (re.compile(r"\blast week\b", re.I), -7),
    (re.compile(r"\bnext week\b", re.I), 7),
    (re.compile(r"\blast month\b", re.I), -30),
    (re.compile(r"\bnext month\b", re.I), 30),
    (re.compile(r"\blast year\b", re.I), -365),
    (re.compile(r"\bnext year\b", re.I), 365),
)
_DATE = re.compile(
    r"\b(?:(?P<d1>\d{1,2})(?:st|nd|rd|th)? (?:of )?(?P<m1>[a-z]{3,9})"
    r"|(?P<m2>[a-z]{3,9}) (?P<d2>\d{1,2})(?:st|nd|rd|th)?)\b(?:,? (?P<y>\d{4}))?",
    re.I,
)
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_AGO = re.compile(r"\b(?P<n>\d+|a|one|two|three) (?P<u>day|week|month|year)s? ago\b", re.I)
_UNITS = {"day": 1, "week": 7, "month": 30, "year": 365}
_NUMBERS = {"a": 1, "one": 1, "two": 2, "three": 3}


def refers_to(text: str, said_at: datetime) -> datetime | None:
    """The time a statement is about, when it names one (relative to when it was said)."""
    if m := _ISO.search(text):
        try:
            return said_at.replace(year=int(m[1]), month=int(m[2]), day=int(m[3]))
        except ValueError:
            return None
    for m in _DATE.finditer(text):
        month = _MONTHS.get((m["m1"] or m["m2"] or "").lower())
        if month is None:
            continue
        day = int(m["d1"] or m["d2"])
        year = int(m["y"]) if m["y"] else said_at.year
        try:
            return said_at.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    if m := _AGO.search(text):
        n = _NUMBERS.get(m["n"].lower()) or int(m["n"])
        return said_at - timedelta(days=n * _UNITS[m["u"].lower()])
    for pattern, days in _RELATIVE:
        if pattern.search(text):
            return said_at + timedelta(days=days)
    return None
