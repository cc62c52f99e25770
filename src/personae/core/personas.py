"""Loading and validating persona files (YAML or JSON).

Validation never stops at the first mistake: a creator fixing a file wants every problem at
once, each with the dotted field path, the bad value and a concrete fix.
"""

from __future__ import annotations

import difflib
import json
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError

from personae.core.documents import find_flaw
from personae.errors import ConfigError, PersonaInvalid, PersonaUnreadable, Problem
from personae.types import SLUG_PATTERN, Persona
from personae.types.evals import EvalCase, EvalSuite

Format = Literal["yaml", "json"]
PERSONA_SUFFIXES = (".yaml", ".yml", ".json")
# `<id>.eval.yaml` beside a persona file holds its tests; it is not a persona itself.
EVAL_MARK = ".eval"
_VALUE_LIMIT = 60
_MAPPING_HINT = "a persona file is a mapping of keys, e.g. `id: cooking-coach` then `name: ...`"


def parse_persona_text(text: str, source: str, fmt: Format | None = None) -> Persona:
    """Parse and validate one persona; ``fmt`` None guesses from ``source``'s suffix (YAML)."""
    chosen = fmt or ("json" if source.lower().endswith(".json") else "yaml")
    data = _parse_json(text, source) if chosen == "json" else _parse_yaml(text, source)
    return validate_persona_data(data, source)


def validate_persona_data(data: object, source: str) -> Persona:
    """Validate already-parsed data; raises PersonaInvalid listing every problem."""
    flaw = find_flaw(data)
    if flaw is not None:
        raise PersonaUnreadable(source, [Problem(flaw.path, flaw.message, None, flaw.hint)])
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise PersonaInvalid(
            source, [Problem("", f"top level is {kind}, not a mapping", None, _MAPPING_HINT)]
        )
    try:
        return Persona.model_validate(data)
    except ValidationError as err:
        problems = [_problem(dict(e)) for e in err.errors(include_url=False)]
        raise PersonaInvalid(source, problems) from None


def load_persona_file(path: Path) -> Persona:
    """Load one file; a relative ``avatar`` becomes an absolute path next to the file."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        hint = "check the path; persona files are UTF-8 text (.yaml, .yml or .json)"
        raise PersonaInvalid(
            source, [Problem("", f"cannot read the file: {reason}", None, hint)]
        ) from None
    persona = parse_persona_text(text, source)
    return _resolve_gallery(_resolve_avatar(persona, path, source), path, source)


def load_persona_dir(folder: Path) -> list[Persona]:
    """Every persona file in ``folder`` (sorted by name); raises for the first bad file."""
    if not folder.is_dir():
        raise ConfigError(
            f"persona folder {str(folder)!r} does not exist or is not a folder; "
            "create it or point PERSONAE_PERSONAS_DIR at an existing folder"
        )
    files = sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in PERSONA_SUFFIXES and not p.stem.lower().endswith(EVAL_MARK)
    )
    personas: list[Persona] = []
    seen: dict[str, Path] = {}
    for path in files:
        persona = load_persona_with_tests(path)
        if persona.id in seen:
            hint = "give each persona in a folder its own id"
            problem = Problem(
                "id", f"id already used by {seen[persona.id].name}", repr(persona.id), hint
            )
            raise PersonaInvalid(str(path), [problem])
        seen[persona.id] = path
        personas.append(persona)
    return personas


def load_persona_with_tests(path: Path) -> Persona:
    """A persona file with the tests of ``<stem>.eval.yaml`` beside it added to its own."""
    persona = load_persona_file(path)
    beside = eval_file_beside(path)
    if beside is None:
        return persona
    extra = load_eval_file(beside)
    own = {case.name.lower() for case in persona.tests}
    clash = [case.name for case in extra if case.name.lower() in own]
    if clash:
        hint = f"rename it in {beside.name} or in {path.name}; each test name is used once"
        problems = [Problem("tests", f"test {n!r} is in both files", None, hint) for n in clash]
        raise PersonaInvalid(str(beside), problems)
    return persona.model_copy(update={"tests": (*persona.tests, *extra)})


def eval_file_beside(path: Path) -> Path | None:
    """``<stem>.eval.yaml`` (or .yml, .json) next to a persona file, when there is one."""
    for suffix in PERSONA_SUFFIXES:
        candidate = path.with_name(f"{path.stem}{EVAL_MARK}{suffix}")
        if candidate.is_file():
            return candidate
    return None


def load_eval_file(path: Path) -> tuple[EvalCase, ...]:
    """An eval file's tests, validated with the same problems (path, value, fix) as a persona
    file; raises PersonaInvalid."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        hint = "check the path; eval files are UTF-8 text (.yaml, .yml or .json)"
        raise PersonaInvalid(
            source, [Problem("", f"cannot read the file: {reason}", None, hint)]
        ) from None
    data = (
        _parse_json(text, source) if source.lower().endswith(".json") else _parse_yaml(text, source)
    )
    flaw = find_flaw(data)
    if flaw is not None:
        raise PersonaUnreadable(source, [Problem(flaw.path, flaw.message, None, flaw.hint)])
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        hint = "an eval file is a mapping with one key, `tests:`, then one `- name: ...` per test"
        raise PersonaInvalid(
            source, [Problem("", f"top level is {kind}, not a mapping", None, hint)]
        )
    try:
        return EvalSuite.model_validate(data).tests
    except ValidationError as err:
        problems = [_problem(dict(e), EvalSuite) for e in err.errors(include_url=False)]
        raise PersonaInvalid(source, problems) from None


# ---------------------------------------------------------------- parsing


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader without aliases: ``*name`` lets a few hundred bytes expand to megabytes."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not allowed in persona files", mark
            )
        return super().compose_node(parent, index)


def _too_deep(source: str) -> PersonaUnreadable:
    hint = "flatten the data; nothing in a persona needs that much nesting"
    return PersonaUnreadable(source, [Problem("", "the document is nested too deeply", None, hint)])


def _parse_yaml(text: str, source: str) -> object:
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # a SafeLoader
    except RecursionError:
        raise _too_deep(source) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = getattr(err, "problem", None) or str(err).splitlines()[0]
        if "alias" in what:
            hint = "write the value out in full where the alias was; anchors (&) are not needed"
            raise PersonaUnreadable(source, [Problem(where, what, None, hint)]) from None
        hint = (
            "check the indentation (spaces, not tabs) and quote values that contain "
            "': ', ' #' or start with a special character like '*', '&', '[' or '{'"
        )
        raise PersonaUnreadable(
            source, [Problem(where, f"malformed YAML: {what}", None, hint)]
        ) from None


def _parse_json(text: str, source: str) -> object:
    try:
        return json.loads(text)
    except RecursionError:
        raise _too_deep(source) from None
    except json.JSONDecodeError as err:
        where = f"line {err.lineno}, column {err.colno}"
        hint = "check for a missing comma or quote, or a trailing comma before '}' or ']'"
        raise PersonaUnreadable(
            source, [Problem(where, f"malformed JSON: {err.msg}", None, hint)]
        ) from None


def _resolve_gallery(persona: Persona, path: Path, source: str) -> Persona:
    """Gallery files become absolute paths next to the persona file; a missing one is named."""
    entries = []
    for index, entry in enumerate(persona.gallery):
        resolved = (path.parent / entry.file).resolve()
        if not resolved.is_file():
            hint = "put the image next to the persona file, or give a path relative to it"
            where = f"gallery.{index}.file"
            raise PersonaInvalid(
                source, [Problem(where, f"image not found at {resolved}", repr(entry.file), hint)]
            )
        entries.append(entry.model_copy(update={"file": str(resolved)}))
    return persona.model_copy(update={"gallery": tuple(entries)}) if entries else persona


def _resolve_avatar(persona: Persona, path: Path, source: str) -> Persona:
    avatar = persona.avatar
    if not avatar or re.match(r"^[a-z][a-z0-9+.-]*:", avatar):  # a URL or data: URI
        return persona
    resolved = (path.parent / avatar).resolve()
    if not resolved.is_file():
        hint = "put the image next to the persona file, or give a path relative to it"
        problem = Problem("avatar", f"image not found at {resolved}", repr(avatar), hint)
        raise PersonaInvalid(source, [problem])
    return persona.model_copy(update={"avatar": str(resolved)})


# ---------------------------------------------------------------- pydantic errors -> problems


def _problem(error: dict[str, Any], root: type[BaseModel] = Persona) -> Problem:
    loc: tuple[int | str, ...] = tuple(error["loc"])
    location = ".".join(str(part) for part in loc)
    kind: str = error["type"]
    if kind == "extra_forbidden":
        return Problem(location, f"unknown key {loc[-1]!r}", None, _key_hint(loc, root))
    if kind == "missing":
        return Problem(location, "required field is missing", None, f"add `{loc[-1]}: ...`")
    value = _short_repr(error.get("input"))
    ctx = {**(error.get("ctx") or {}), "input": error.get("input")}
    is_id = kind == "string_pattern_mismatch" and loc == ("id",)
    message = "not a valid id" if is_id else str(error["msg"])
    return Problem(location, message, value, _hint(kind, loc, ctx, root))


def _short_repr(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _VALUE_LIMIT else text[: _VALUE_LIMIT - 3] + "..."


def _hint(
    kind: str, loc: tuple[int | str, ...], ctx: dict[str, Any], root: type[BaseModel]
) -> str | None:
    if kind == "string_pattern_mismatch" and loc == ("id",):
        return "use lowercase letters, digits and dashes, e.g. 'cooking-coach'" + _slug_try(ctx)
    if kind in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
        return _range_hint(loc, root)
    if kind == "string_too_short":
        return "write some text here; it must not be empty"
    if kind == "string_too_long":
        return f"shorten it to at most {ctx.get('max_length')} characters"
    if kind in {"int_parsing", "int_type", "int_from_float"}:
        return "write a whole number without quotes, e.g. 200"
    if kind in {"float_parsing", "float_type"}:
        return "write a number without quotes, e.g. 0.7"
    if kind in {"bool_parsing", "bool_type"}:
        return "write true or false"
    if kind == "string_type":
        return "write text; quote it if it looks like a number, date or yes/no"
    if kind in {"tuple_type", "list_type"}:
        return "write a list: one `- item` per line"
    if kind in {"model_type", "model_attributes_type", "dict_type"}:
        return "write a mapping of `key: value` lines"
    if kind == "literal_error":
        return f"write one of {ctx.get('expected')}"
    return None


def _slug_try(ctx: dict[str, Any]) -> str:
    """Suggest the slug form of a bad id when it has one (``'Cooking Coach'`` -> cooking-coach)."""
    raw = ctx.get("input")
    slug = re.sub(r"[^a-z0-9]+", "-", raw.lower()).strip("-")[:64] if isinstance(raw, str) else ""
    return f"; here perhaps {slug!r}" if re.fullmatch(SLUG_PATTERN, slug) else ""


def _range_hint(loc: tuple[int | str, ...], root: type[BaseModel]) -> str | None:
    model = _model_at(loc[:-1], root)
    field = model.model_fields.get(str(loc[-1])) if model else None
    if field is None:
        return None
    low = high = None
    for rule in field.metadata:
        for attr, bound in (("ge", "low"), ("gt", "low"), ("le", "high"), ("lt", "high")):
            value = getattr(rule, attr, None)
            if value is not None and bound == "low":
                low = f"{value} ({'inclusive' if attr == 'ge' else 'exclusive'})"
            elif value is not None:
                high = f"{value} ({'inclusive' if attr == 'le' else 'exclusive'})"
    if low and high:
        return f"use a value from {low} to {high}"
    return f"use a value of at least {low}" if low else f"use a value of at most {high}"


def _key_hint(loc: tuple[int | str, ...], root: type[BaseModel]) -> str:
    model = _model_at(loc[:-1], root)
    valid = list(model.model_fields) if model else []
    close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    if valid:
        return "valid keys here: " + ", ".join(valid)
    return "remove this key"


def _model_at(loc: tuple[int | str, ...], root: type[BaseModel]) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at ``loc`` (list indexes are skipped)."""
    model: type[BaseModel] | None = root
    for part in loc:
        if isinstance(part, int):
            continue
        if model is None or part not in model.model_fields:
            return None
        model = _find_model(model.model_fields[part].annotation)
    return model


def _find_model(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in {typing.Union, types.UnionType, tuple, list}:
        for arg in typing.get_args(annotation):
            found = _find_model(arg)
            if found is not None:
                return found
    return None
