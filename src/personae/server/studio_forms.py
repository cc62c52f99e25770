"""The studio editor's fields, read off the Persona model: one form control per field.

Plain values get inputs; lists of text a textarea, one item per line; nested settings
(style, model, safety) a group of their own; example dialogues a textarea of 'User:' and
'Persona:' lines; the lorebook its own editor; the rest (tests, extensions, professional
redirects) a JSON box. The browser turns the form back into a persona (studio.js), and the
server validates it like any persona file.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from personae.types import Persona

Kind = Literal["text", "textarea", "lines", "bool", "int", "float", "choice", "json", "dialogues"]
LONG_TEXT = {
    "description", "personality", "scenario", "greeting", "system_prompt", "creator_notes",
    "post_history_instructions", "mes_example", "prompt_template", "disclosure", "refusal",
    "break_reminder",
}  # fmt: skip
OWN_EDITOR = {"lorebook"}
NESTED = {"style", "model", "safety"}
GROUP_TITLES = {
    "": "Identity",
    "style": "Style: do and don't",
    "model": "Model and generation",
    "safety": "Safety and boundaries",
}


@dataclass(frozen=True, slots=True)
class FormField:
    path: str  # dotted, as validation problems name it
    label: str
    kind: Kind
    value: str
    help: str = ""
    required: bool = False
    choices: tuple[str, ...] = ()
    checked: bool = False
    step: str = ""

    @property
    def dom_id(self) -> str:
        return "f-" + self.path.replace(".", "-").replace("_", "-")


@dataclass(frozen=True, slots=True)
class FormGroup:
    key: str
    title: str
    fields: list[FormField] = field(default_factory=list)


def persona_form(persona: Persona | None) -> list[FormGroup]:
    blank = Persona.model_construct(id="", name="", greeting="")  # every default, no id yet
    data = (persona or blank).model_dump(mode="json")
    groups = {key: FormGroup(key, title) for key, title in GROUP_TITLES.items()}
    for name, info in Persona.model_fields.items():
        if name in OWN_EDITOR:
            continue
        if name in NESTED:
            model = _model_of(info)
            assert model is not None
            nested = data.get(name) or {}
            for sub, sub_info in model.model_fields.items():
                label = f"{name.capitalize()} {sub.replace('_', ' ')}"  # "Model name", not "Name"
                groups[name].fields.append(
                    _field(f"{name}.{sub}", sub, sub_info, nested.get(sub), label)
                )
            continue
        groups[""].fields.append(_field(name, name, info, data.get(name)))
    return list(groups.values())


def _field(
    path: str, name: str, info: FieldInfo, value: Any, label: str | None = None
) -> FormField:
    label = label or name.replace("_", " ").capitalize()
    help_text = info.description or ""
    required = info.is_required()
    annotation = _plain(info.annotation)
    if name == "example_dialogues":
        return FormField(path, label, "dialogues", dialogues_text(value or []), help_text)
    if annotation is bool:
        return FormField(path, label, "bool", "", help_text, checked=bool(value))
    if annotation in (int, float):
        shown = "" if value is None else str(value)
        kind: Kind = "int" if annotation is int else "float"
        return FormField(path, label, kind, shown, help_text, step="1" if kind == "int" else "any")
    if typing.get_origin(annotation) is Literal:
        choices = tuple(str(c) for c in typing.get_args(annotation))
        return FormField(path, label, "choice", str(value or ""), help_text, choices=choices)
    if annotation is str:
        kind = "textarea" if name in LONG_TEXT else "text"
        return FormField(path, label, kind, value or "", help_text, required)
    if _is_text_list(annotation):
        return FormField(path, label, "lines", "\n".join(value or []), help_text or "One a line")
    shown = json.dumps(value if value is not None else None, indent=2, ensure_ascii=False)
    return FormField(path, label, "json", shown, (help_text + " (JSON)").strip())


def dialogues_text(dialogues: list[list[dict[str, str]]]) -> str:
    """Dialogues as lines 'User: ...' / 'Persona: ...', a blank line between dialogues."""
    blocks = [
        "\n".join(f"User: {x['user']}\nPersona: {x['persona']}" for x in dialogue)
        for dialogue in dialogues
    ]
    return "\n\n".join(blocks)


def _plain(annotation: Any) -> Any:
    """``X | None`` as X."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _is_text_list(annotation: Any) -> bool:
    return typing.get_origin(annotation) is tuple and typing.get_args(annotation) == (str, ...)


def _model_of(info: FieldInfo) -> type[BaseModel] | None:
    annotation = _plain(info.annotation)
    return (
        annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    )
