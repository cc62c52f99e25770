"""The crisis protocol's words: a supportive reply, out of character, with crisis resources
for the person's locale. The table is configurable (PERSONAE_CRISIS_RESOURCES_FILE)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import yaml

from personae.errors import ConfigError

# Country code -> where to get help now. US 988 is the default for unknown locales' fallback.
DEFAULT_RESOURCES: dict[str, str] = {
    "US": "call or text 988 (988 Suicide & Crisis Lifeline), or chat at 988lifeline.org",
    "CA": "call or text 988 (Suicide Crisis Helpline)",
    "GB": "call Samaritans on 116 123 (free, 24/7), or text SHOUT to 85258",
    "IE": "call Samaritans on 116 123, or text HELLO to 50808",
    "AU": "call Lifeline on 13 11 14, or text 0477 13 11 14",
    "NZ": "call or text 1737",
    "DE": "call the Telefonseelsorge on 0800 111 0 111 or 0800 111 0 222",
    "FR": "appelez le 3114 (numéro national de prévention du suicide)",
    "ES": "llama al 024 (línea de atención a la conducta suicida)",
    "IN": "call Tele-MANAS on 14416",
}
DEFAULT_COUNTRY = "US"
INTRO = (
    "I'm stepping out of character for a moment, because what you wrote matters more than our "
    "conversation. I'm an AI, and I can't give you the help you deserve, but people can, right "
    "now: {resources}. If you are in immediate danger, call your local emergency number. "
    "You don't have to go through this alone, and reaching out is a brave thing to do."
)


def load_resources(path: Path | None) -> dict[str, str]:
    """The default table, with the file's entries (country code -> text) over it."""
    table = dict(DEFAULT_RESOURCES)
    if path is None:
        return table
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as err:
        raise ConfigError(
            f"crisis resources file {str(path)!r} cannot be read ({err}); it must be a YAML or "
            "JSON mapping of country codes to text, e.g. `US: call or text 988`"
        ) from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in data.items()
    ):
        raise ConfigError(
            f"crisis resources file {str(path)!r} must map country codes to non-empty text, "
            "e.g. `GB: call Samaritans on 116 123`"
        )
    table.update({k.upper(): v for k, v in data.items()})
    return table


def country_of(locale: str) -> str:
    """'en-GB', 'en_GB' or 'GB' -> 'GB'; a bare language or nothing -> ''."""
    parts = locale.replace("_", "-").split("-")
    last = parts[-1] if parts else ""
    return last.upper() if len(last) == 2 and (len(parts) > 1 or last.isupper()) else ""


def crisis_reply(locale: str, table: Mapping[str, str]) -> str:
    resources = table.get(country_of(locale)) or table.get(DEFAULT_COUNTRY) or ""
    return INTRO.format(resources=resources or "contact a local crisis line")
