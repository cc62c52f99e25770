"""Lorebook activation with SillyTavern's semantics (cards.md section 3), indexed.

A book is compiled once per persona revision: whole-word keys made of words go into a phrase
index (a dict looked up with the scanned text's word n-grams), other plain keys into one trie
pattern per (case, whole-word) class, scanned with a lookahead at every position, and regex keys
are compiled once. Scanning a message therefore costs about its length, not the number of
entries; only entries whose keys were found (plus constant and sticky ones) are looked at.

Activation per turn: constant, sticky and key-matched entries (secondary keys by
selective_logic) that are not delayed or cooling down, reduced by inclusion groups, probability
and the token budget; with recursive scanning their text is scanned again, up to the step limit.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from personae.core.template import apply_macros
from personae.types import ContextBlock, Lorebook, LoreEntry, LoreTimer, Persona, Position

SOURCE = "lore"
# Lore is kept before any history (history priorities are negative): its own budget bounds it.
PRIORITY = 100
MAX_NOTES = 50  # considered-but-not-inserted entries reported in the trace, at most
_WORDS = re.compile(r"\w+")
_WORD_KEY = re.compile(r"\w+(?:\s+\w+)*")
_SLASHED = re.compile(r"^/(.+)/([a-z]*)$", re.DOTALL)
_POSITIONS: dict[str, Position] = {
    "before_char": "before_persona",
    "after_char": "after_persona",
    "at_depth": "in_history",
}


# ---------------------------------------------------------------- compiling


@dataclass
class _Trie:
    """Plain keys of one (case, whole-word) class: a trie, and the pattern built from it."""

    case_sensitive: bool
    whole: bool
    root: dict[str, dict] = field(default_factory=dict)  # type: ignore[type-arg]
    ids: dict[str, list[int]] = field(default_factory=dict)
    pattern: re.Pattern[str] | None = None

    def add(self, key: str, key_id: int) -> None:
        node = self.root
        for char in key:
            node = node.setdefault(char, {})
        node[""] = {}
        self.ids.setdefault(key, []).append(key_id)

    def build(self) -> None:
        if self.ids:
            boundary = r"(?<!\w)" if self.whole else ""
            self.pattern = re.compile(f"{boundary}(?=({_render(self.root)}))")

    def scan(self, text: str, found: set[int]) -> None:
        if self.pattern is None:
            return
        for match in self.pattern.finditer(text):
            start, node, key = match.start(), self.root, ""
            # The longest key at this position was matched; its prefixes that are keys too.
            for char in match.group(1):
                node = node[char]
                key += char
                if "" in node and (not self.whole or _ends_word(text, start + len(key))):
                    found.update(self.ids[key])


def _render(node: dict[str, dict]) -> str:  # type: ignore[type-arg]
    alternatives = [re.escape(char) + _render(child) for char, child in node.items() if char]
    if not alternatives:
        return ""
    body = alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"
    return f"(?:{body})?" if "" in node else body


def _ends_word(text: str, end: int) -> bool:
    return end >= len(text) or not (text[end].isalnum() or text[end] == "_")


@dataclass
class CompiledBook:
    book: Lorebook
    uids: list[str]
    primary: list[list[int]]  # key ids per entry
    secondary: list[list[int]]
    key_entry: list[int]  # the entry of each key id
    key_text: list[str]
    phrases: dict[bool, dict[str, list[int]]]  # case-sensitive? -> phrase -> key ids
    longest: dict[bool, int]  # most words in a phrase key, per class
    tries: list[_Trie]
    regexes: list[tuple[int, re.Pattern[str] | None]]
    constants: list[int]
    timed: list[int]  # entries with sticky or cooldown
    bad_regex: dict[int, str]  # entry -> a key that does not compile
    # Regex keys with a literal they cannot match without: found by this trie (ids are indexes
    # into ``regexes``), so only those regexes run; the rest (``ungated``) run on every scan.
    gate: _Trie = field(default_factory=lambda: _Trie(False, False))
    ungated: list[int] = field(default_factory=list)
    deepest: int = 0  # the most messages any entry scans
    by_uid: dict[str, int] = field(default_factory=dict)
    delayed: set[int] = field(default_factory=set)  # entries with delay_until_recursion


def compile_book(book: Lorebook) -> CompiledBook:
    compiled = CompiledBook(
        book, [], [], [], [], [], {False: {}, True: {}}, {False: 0, True: 0},
        [_Trie(c, w) for c in (False, True) for w in (False, True)], [], [], [], {},
    )  # fmt: skip
    for index, entry in enumerate(book.entries):
        compiled.uids.append(str(entry.id) if entry.id is not None else f"#{index}")
        compiled.by_uid[compiled.uids[-1]] = index
        primary: list[int] = []
        secondary: list[int] = []
        if entry.enabled:
            for key in entry.keys:
                primary.append(_add_key(compiled, index, entry, key))
            if entry.selective:
                for key in entry.secondary_keys:
                    secondary.append(_add_key(compiled, index, entry, key))
            if entry.constant:
                compiled.constants.append(index)
            if entry.sticky or entry.cooldown:
                compiled.timed.append(index)
            if entry.delay_until_recursion:
                compiled.delayed.add(index)
            if entry.scan_depth is not None:
                compiled.deepest = max(compiled.deepest, entry.scan_depth)
        compiled.primary.append(primary)
        compiled.secondary.append(secondary)
    compiled.deepest = max(compiled.deepest, book.scan_depth)
    for trie in [*compiled.tries, compiled.gate]:
        trie.build()
    return compiled


def _add_key(compiled: CompiledBook, index: int, entry: LoreEntry, key: str) -> int:
    key_id = len(compiled.key_entry)
    compiled.key_entry.append(index)
    compiled.key_text.append(key)
    book = compiled.book
    case = book.case_sensitive if entry.case_sensitive is None else entry.case_sensitive
    whole = book.match_whole_words if entry.match_whole_words is None else entry.match_whole_words
    slashed = _SLASHED.match(key)
    if slashed or entry.use_regex:
        source, flags = (slashed.group(1), slashed.group(2)) if slashed else (key, "")
        options = (0 if case and "i" not in flags else re.IGNORECASE) | (
            re.DOTALL if "s" in flags else 0
        )
        options |= re.MULTILINE if "m" in flags else 0
        try:
            pattern: re.Pattern[str] | None = re.compile(source, options)
        except (re.error, RecursionError, OverflowError):
            pattern = None
            compiled.bad_regex.setdefault(index, key)
        if pattern is not None:
            literal = required_literal(source)
            if literal:
                compiled.gate.add(literal.casefold(), len(compiled.regexes))
            else:
                compiled.ungated.append(len(compiled.regexes))
        compiled.regexes.append((key_id, pattern))
        return key_id
    norm = key.strip() if case else key.strip().casefold()
    if not norm:
        return key_id  # an empty key matches nothing
    if whole and _WORD_KEY.fullmatch(norm):
        words = _WORDS.findall(norm)
        compiled.phrases[case].setdefault(" ".join(words), []).append(key_id)
        compiled.longest[case] = max(compiled.longest[case], len(words))
    else:
        compiled.tries[2 * case + whole].add(norm, key_id)
    return key_id


def scan(compiled: CompiledBook, text: str) -> set[int]:
    """The key ids found in ``text``."""
    found: set[int] = set()
    folded = text.casefold()
    for case, phrases in compiled.phrases.items():
        if not phrases:
            continue
        words = _WORDS.findall(text if case else folded)
        for size in range(1, compiled.longest[case] + 1):
            for start in range(len(words) - size + 1):
                hit = phrases.get(" ".join(words[start : start + size]))
                if hit:
                    found.update(hit)
    for trie in compiled.tries:
        trie.scan(text if trie.case_sensitive else folded, found)
    gated: set[int] = set()
    compiled.gate.scan(folded, gated)
    for number in (*gated, *compiled.ungated):
        key_id, pattern = compiled.regexes[number]
        if pattern is not None and pattern.search(text):
            found.add(key_id)
    return found


_META = set("\\.^$*+?{}[]()|")


def required_literal(source: str) -> str:
    """The longest run of plain characters a match of ``source`` must contain ("" if none is
    certain): only outside groups and classes, none with a top-level alternation or inline
    flags, and a character a quantifier makes optional is not counted."""
    if "(?" in source:
        return ""
    runs: list[str] = []
    run, depth, at = "", 0, 0
    while at < len(source):
        char = source[at]
        if char == "\\":
            runs.append(run)
            run, at = "", at + 2
            continue
        if char == "[":
            runs.append(run)
            run = ""
            close = source.find("]", at + 2)
            at = len(source) if close < 0 else close + 1
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return ""
        if char in "?*{" and run:
            run = run[:-1]  # the quantified character may be absent
        if char in _META or depth > 0:
            runs.append(run)
            run = ""
        else:
            run += char
        at += 1
    runs.append(run)
    longest = max(runs, key=len)
    return longest if len(longest) >= 2 else ""


# ---------------------------------------------------------------- activation


@dataclass
class Activation:
    blocks: list[ContextBlock]
    timers: list[LoreTimer]  # new timers to store (entries that started sticky/cooldown)


@dataclass
class _Run:
    compiled: CompiledBook
    position: int
    timers: Mapping[str, LoreTimer]
    rng: random.Random
    chosen: dict[int, str] = field(default_factory=dict)  # entry -> why, in activation order
    sticky: set[int] = field(default_factory=set)
    notes: list[tuple[int, str]] = field(default_factory=list)
    used: int = 0
    full: bool = False


def scan_messages(compiled: CompiledBook, messages: Sequence[str]) -> list[set[int]]:
    """The key ids found in each message the book scans; ``messages`` newest first."""
    return [scan(compiled, text) for text in messages[: compiled.deepest]]


def activate(
    compiled: CompiledBook,
    persona: Persona,
    messages: Sequence[str] | list[set[int]],
    position: int,
    timers: Mapping[str, LoreTimer],
    rng: random.Random,
    estimate: Callable[[str], int],
) -> Activation:
    """Activate the book for one turn. ``messages`` newest first (the new message, then the
    history), or what ``scan_messages`` found in them; ``position`` is the chat's message
    count with the new message; ``timers`` the conversation's stored timing; ``estimate``
    counts a text's tokens."""
    book = compiled.book
    run = _Run(compiled, position, timers, rng)
    per_message = [
        m if isinstance(m, set) else scan(compiled, m) for m in messages[: compiled.deepest]
    ]
    by_depth: dict[int, set[int]] = {}

    def chat_hits(depth: int) -> set[int]:
        if depth not in by_depth:
            by_depth[depth] = set().union(*per_message[:depth])
        return by_depth[depth]

    recursion: set[int] = set()
    seen: set[int] = set()
    level = 0
    while True:
        if level == 0:
            candidates = {compiled.key_entry[k] for k in chat_hits(len(per_message))}
            candidates.update(compiled.constants)
            candidates.update(compiled.bad_regex)  # to say in the trace why they never match
            timed = (compiled.by_uid.get(uid) for uid in run.timers)
            candidates.update(i for i in timed if i is not None and _is_sticky(run, i))
        else:  # what the last step's text found, and entries waiting for this level
            candidates = {compiled.key_entry[k] for k in recursion - seen}
            candidates.update(
                i
                for i in compiled.delayed
                if compiled.book.entries[i].delay_until_recursion == level
            )
        seen = set(recursion)
        fresh = [
            (index, why)
            for index in sorted(candidates - run.chosen.keys())
            if (why := _why(run, index, level, chat_hits, recursion)) is not None
        ]
        added = _reduce(run, fresh, estimate)
        if run.full or not book.recursive_scanning or not added:
            break
        level += 1
        if book.max_recursion_steps and level > book.max_recursion_steps:
            break
        text = "\n".join(
            book.entries[i].content for i in added if not book.entries[i].prevent_recursion
        )
        recursion |= scan(compiled, text)
    return Activation(_blocks(run, persona), _new_timers(run))


def _is_sticky(run: _Run, index: int) -> bool:
    timer = run.timers.get(run.compiled.uids[index])
    return timer is not None and timer.activated_at < run.position < timer.sticky_end


def _why(
    run: _Run,
    index: int,
    level: int,
    chat_hits: Callable[[int], set[int]],
    recursion: set[int],
) -> str | None:
    """Why the entry activates now, or None (with a note when it matched but may not)."""
    compiled, entry = run.compiled, run.compiled.book.entries[index]
    if not entry.enabled or not entry.content.strip():
        return None
    if level == 0 and _is_sticky(run, index):
        run.sticky.add(index)
        return "sticky"
    timer = run.timers.get(compiled.uids[index])
    if timer and timer.activated_at < run.position < timer.cooldown_end:
        run.notes.append((index, "cooling down"))
        return None
    if run.position < entry.delay:
        run.notes.append((index, f"delayed until the chat has {entry.delay} messages"))
        return None
    if entry.delay_until_recursion and level < entry.delay_until_recursion:
        return None
    if entry.constant:
        return "constant"
    depth = compiled.book.scan_depth if entry.scan_depth is None else entry.scan_depth
    hits = chat_hits(depth)
    if level > 0 and not entry.exclude_recursion:
        hits = hits | recursion
    primary = [k for k in compiled.primary[index] if k in hits]
    if not primary:
        if index in compiled.bad_regex and level == 0:
            run.notes.append((index, f"invalid regular expression {compiled.bad_regex[index]!r}"))
        return None
    why = f"key {compiled.key_text[primary[0]]!r}" + (" (recursion)" if level else "")
    secondary = compiled.secondary[index]
    if secondary:
        matched = sum(1 for k in secondary if k in hits)
        logic = entry.selective_logic
        ok = {
            "and_any": matched > 0,
            "and_all": matched == len(secondary),
            "not_any": matched == 0,
            "not_all": matched < len(secondary),
        }[logic]
        if not ok:
            run.notes.append((index, f"{why} matched but the secondary keys fail {logic}"))
            return None
        why += f", secondary {logic}"
    return why


def _reduce(run: _Run, fresh: list[tuple[int, str]], estimate: Callable[[str], int]) -> list[int]:
    """Inclusion groups, probability, then the budget; returns the entries added."""
    entries = run.compiled.book.entries
    fresh = _groups(run, fresh)
    kept: list[tuple[int, str]] = []
    for index, why in fresh:
        chance = entries[index].probability
        if index not in run.sticky and chance < 100 and run.rng.random() * 100 >= chance:
            run.notes.append((index, f"{why}, but its {chance}% chance failed"))
        else:
            kept.append((index, why))

    def rank(item: tuple[int, str]) -> tuple[bool, bool, int, int]:
        entry = entries[item[0]]
        return (
            item[0] not in run.sticky,
            not entry.constant,
            -(entry.priority or 0),
            -entry.insertion_order,
        )

    added: list[int] = []
    for index, why in sorted(kept, key=rank):
        if run.full:
            run.notes.append((index, f"{why}, but the lore budget was already spent"))
            continue
        tokens = estimate(entries[index].content)
        budget = run.compiled.book.token_budget
        if run.used + tokens > budget:
            run.full = True  # as SillyTavern: activation stops at the first overflow
            run.notes.append((index, f"{why}, but over the {budget}-token lore budget"))
            continue
        run.used += tokens
        run.chosen[index] = why
        added.append(index)
    return added


def _groups(run: _Run, fresh: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """One entry per inclusion group: a sticky member, else the highest insertion_order among
    those with group_override, else a pick weighted by group_weight."""
    entries = run.compiled.book.entries
    members: dict[str, list[int]] = {}
    for index, _ in fresh:
        for name in _group_names(entries[index]):
            members.setdefault(name, []).append(index)
    losers: dict[int, str] = {}
    for name, group in members.items():
        group = [i for i in group if i not in losers]
        if len(group) < 2:
            continue
        sticky = [i for i in group if i in run.sticky]
        override = [i for i in group if entries[i].group_override]
        if sticky:
            winner = sticky[0]
        elif override:
            winner = max(override, key=lambda i: entries[i].insertion_order)
        else:
            weights = [entries[i].group_weight for i in group]
            winner = run.rng.choices(group, weights=weights)[0]
        for index in group:
            if index != winner:
                losers[index] = f"lost inclusion group {name!r} to {run.compiled.uids[winner]}"
    run.notes.extend(losers.items())
    return [(i, why) for i, why in fresh if i not in losers]


def _group_names(entry: LoreEntry) -> Iterable[str]:
    return (name.strip() for name in entry.group.split(",") if name.strip())


def _blocks(run: _Run, persona: Persona) -> list[ContextBlock]:
    """One block per (position, depth, role), entries by insertion_order; then the notes."""
    compiled, entries = run.compiled, run.compiled.book.entries
    buckets: dict[tuple[Position, int, str], list[int]] = {}
    for index in sorted(run.chosen, key=lambda i: (entries[i].insertion_order, i)):
        entry = entries[index]
        where = _POSITIONS[entry.position]
        depth = entry.depth if where == "in_history" else 0
        role = entry.role if where == "in_history" else "system"
        buckets.setdefault((where, depth, role), []).append(index)
    blocks = [
        ContextBlock(
            text="\n".join(apply_macros(entries[i].content.strip(), persona) for i in chosen),
            source=SOURCE,
            role=role,  # type: ignore[arg-type]
            position=where,
            depth=depth,
            priority=PRIORITY,
            reasons=tuple((f"lore:{compiled.uids[i]}", run.chosen[i]) for i in chosen),
        )
        for (where, depth, role), chosen in buckets.items()
    ]
    noted: dict[int, str] = {}
    for index, why in run.notes:
        if index not in run.chosen:
            noted.setdefault(index, why)
    blocks.extend(
        ContextBlock("", SOURCE, reasons=((f"lore:{compiled.uids[i]}", why),))
        for i, why in list(noted.items())[:MAX_NOTES]
    )
    return blocks


def _new_timers(run: _Run) -> list[LoreTimer]:
    entries = run.compiled.book.entries
    timers = []
    for index in run.chosen:
        entry = entries[index]
        if index in run.sticky or not (entry.sticky or entry.cooldown):
            continue
        sticky_end = run.position + entry.sticky + 1
        timers.append(
            LoreTimer(
                run.compiled.uids[index], run.position, sticky_end, sticky_end + entry.cooldown
            )
        )
    return timers
