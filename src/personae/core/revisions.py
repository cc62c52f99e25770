"""A persona's revisions compared: the fields that changed, and a unified diff of the YAML.

The field list is what a creator reads ("style.do[1]: 'Be brief' -> 'Be very brief'"); the
unified diff is for those who know files. Both come from the specs alone.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import yaml

from personae.types import Persona

_MISSING = object()


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One changed value, by dotted path (lists by index); None before/after: absent."""

    path: str
    before: Any
    after: Any


def persona_yaml(persona: Persona) -> str:
    """The persona as a persona file (every field, in the schema's order)."""
    spec = persona.model_dump(mode="json")
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=100)


def field_changes(before: Persona, after: Persona) -> list[FieldChange]:
    changes: list[FieldChange] = []
    _walk("", before.model_dump(mode="json"), after.model_dump(mode="json"), changes)
    return changes


def unified_diff(before: Persona, after: Persona, old: str, new: str) -> str:
    lines = difflib.unified_diff(
        persona_yaml(before).splitlines(keepends=True),
        persona_yaml(after).splitlines(keepends=True),
        fromfile=old,
        tofile=new,
    )
    return "".join(lines)


def _walk(path: str, a: Any, b: Any, out: list[FieldChange]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in [*a, *(k for k in b if k not in a)]:
            _walk(f"{path}.{key}" if path else key, a.get(key, _MISSING), b.get(key, _MISSING), out)
        return
    if isinstance(a, list) and isinstance(b, list) and not (_scalars(a) and _scalars(b)):
        for i in range(max(len(a), len(b))):
            _walk(
                f"{path}[{i}]",
                a[i] if i < len(a) else _MISSING,
                b[i] if i < len(b) else _MISSING,
                out,
            )
        return
    if a != b:
        out.append(FieldChange(path, None if a is _MISSING else a, None if b is _MISSING else b))


def _scalars(items: list[Any]) -> bool:
    """A list of plain values is shown whole; one of mappings is compared item by item."""
    return all(not isinstance(x, dict | list) for x in items)
