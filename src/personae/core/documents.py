"""Limits a parsed document (JSON or YAML) must meet before anything trusts it.

Parsers accept more than the rest of the system can hold: JSON's ``\\ud800`` escape (and YAML's)
yields a lone UTF-16 surrogate, which no UTF-8 encoder (the store, the response) accepts; and
nesting hundreds of levels deep breaks recursive code further on. Both are found here, with the
dotted path to the offending value, without recursion.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_DEPTH = 64


@dataclass(frozen=True, slots=True)
class Flaw:
    """What is wrong, where (dotted path, "" for the top) and how to fix it."""

    path: str
    message: str
    hint: str


def has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _surrogate(path: str, text: str, what: str = "text") -> Flaw:
    code = next(ord(c) for c in text if 0xD800 <= ord(c) <= 0xDFFF)
    return Flaw(
        path,
        f"{what} contains a lone UTF-16 surrogate (\\u{code:04x}), which is not valid Unicode",
        "send the character itself as UTF-8, or in JSON as a complete surrogate pair "
        "(a \\ud800-\\udbff escape followed by a \\udc00-\\udfff one)",
    )


def find_flaw(data: object, max_depth: int | None = MAX_DEPTH) -> Flaw | None:
    """The first lone surrogate (in a value or a key) or nesting past ``max_depth``, if any."""
    stack: list[tuple[object, tuple[str, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        dotted = ".".join(path)
        if max_depth is not None and len(path) > max_depth:
            return Flaw(
                ".".join(path[:3]) + ".…",
                f"the document is nested more than {max_depth} levels deep",
                "flatten the data; nothing here needs that much nesting",
            )
        if isinstance(value, str):
            if has_lone_surrogate(value):
                return _surrogate(dotted, value)
        elif isinstance(value, dict):
            for key in reversed(list(value)):
                name = str(key)
                if has_lone_surrogate(name):
                    return _surrogate(dotted, name, "a key")
                stack.append((value[key], (*path, name)))
        elif isinstance(value, list | tuple):
            for index in reversed(range(len(value))):
                stack.append((value[index], (*path, str(index))))
    return None
