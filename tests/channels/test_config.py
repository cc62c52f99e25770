"""The channels file: valid files become frozen connections; every mistake is reported with the
file, the path inside it and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from personae.channels.config import ChannelsInvalid, WhatsAppConnection, load_channels_file
from personae.errors import ConfigError
from personae.plugins import channel_specs

GOOD = """\
whatsapp:
  - persona: spanish-tutor
    phone_number_id: "106540352242922"
    access_token: env:WA_TOKEN
    app_secret: env:META_APP_SECRET
    verify_token: env:META_VERIFY_TOKEN
messenger:
  - {persona: cooking-coach, page_id: "106123456789012", page_access_token: env:PAGE_TOKEN,
     app_secret: env:META_APP_SECRET, verify_token: env:META_VERIFY_TOKEN}
instagram:
  - {persona: cooking-coach, account_id: "17841400000000000", access_token: env:IG_TOKEN,
     app_secret: env:META_APP_SECRET, verify_token: env:META_VERIFY_TOKEN}
telegram:
  - {persona: spanish-tutor, name: ana-bot, bot_token: env:TG_TOKEN,
     secret_token: env:TG_SECRET, mode: webhook}
  - {persona: travel-planner, name: trip-bot, bot_token: "1:literal", mode: polling}
"""
ENV = {
    "WA_TOKEN": "wa",
    "META_APP_SECRET": "app",
    "META_VERIFY_TOKEN": "verify",
    "PAGE_TOKEN": "page",
    "IG_TOKEN": "ig",
    "TG_TOKEN": "tg",
    "TG_SECRET": "sec",
}
PERSONAS = {"spanish-tutor", "cooking-coach", "travel-planner"}


def _load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> tuple[object, ...]:
    path = tmp_path / "channels.yaml"
    path.write_text(text)
    return load_channels_file(path, ENV if env is None else env, PERSONAS, channel_specs())


def _problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ChannelsInvalid) as caught:
        _load(tmp_path, text, env)
    assert isinstance(caught.value, ConfigError)
    return str(caught.value)


def test_a_valid_file_becomes_frozen_connections_with_secrets_resolved(tmp_path: Path) -> None:
    connections = _load(tmp_path, GOOD)
    assert [type(c).__name__ for c in connections] == [
        "WhatsAppConnection",
        "MessengerConnection",
        "InstagramConnection",
        "TelegramConnection",
        "TelegramConnection",
    ]
    wa = connections[0]
    assert isinstance(wa, WhatsAppConnection)
    assert (wa.key, wa.persona, wa.access_token.get_secret_value()) == (
        "106540352242922",
        "spanish-tutor",
        "wa",
    )
    assert "wa" not in repr(wa.access_token)  # secrets stay out of logs
    with pytest.raises(ValidationError):
        wa.persona = "other"  # type: ignore[misc]


def test_every_mistake_is_reported_with_its_path_and_fix(tmp_path: Path) -> None:
    text = """\
whatsap: []
whatsapp:
  - persona: spanish-tutr
    phone_number_id: "1"
    acess_token: env:WA_TOKEN
    app_secret: env:NOT_SET
    verify_token: v
telegram:
  - {persona: spanish-tutor, name: b, bot_token: env:TG_TOKEN}
"""
    message = _problems(tmp_path, text)
    assert message.splitlines()[0].endswith("channels.yaml: 6 problems in the channels file")
    assert "whatsap: unknown channel\n    hint: did you mean 'whatsapp'?" in message
    assert (
        "whatsapp.0.acess_token: unknown key 'acess_token'\n    hint: did you mean 'access_token'?"
        in message
    )
    assert (
        "whatsapp.0.access_token: required key is missing\n"
        "    hint: add `access_token: env:ACCESS_TOKEN`" in message
    )
    assert (
        "whatsapp.0.app_secret: NOT_SET is not set (got 'env:NOT_SET')\n"
        "    hint: set the environment variable NOT_SET" in message
    )
    assert "telegram.0: Value error, a webhook bot needs `secret_token: env:NAME`" in message
    assert "app_secret: required" not in message  # the unset variable is reported once


def test_a_persona_that_does_not_exist_is_named_with_the_closest_one(tmp_path: Path) -> None:
    text = "telegram:\n  - {persona: spanish-tutr, name: b, bot_token: t, mode: polling}\n"
    message = _problems(tmp_path, text)
    assert (
        "telegram.0.persona: no such persona (got 'spanish-tutr')\n"
        "    hint: did you mean 'spanish-tutor'?" in message
    )


def test_an_account_listed_twice_and_shape_errors(tmp_path: Path) -> None:
    twice = (
        "telegram:\n" + "  - {persona: spanish-tutor, name: b, bot_token: t, mode: polling}\n" * 2
    )
    assert "account listed twice (got 'b')" in _problems(tmp_path, twice)
    assert "whatsapp: not a list" in _problems(tmp_path, "whatsapp: {persona: x}\n")
    assert "top level is not a mapping" in _problems(tmp_path, "- whatsapp\n")
    assert "malformed YAML" in _problems(tmp_path, "whatsapp: [\n")
    assert _load(tmp_path, "") == ()


def test_a_missing_file_says_which_setting_names_it(tmp_path: Path) -> None:
    with pytest.raises(ChannelsInvalid, match="PERSONAE_CHANNELS"):
        load_channels_file(tmp_path / "nope.yaml", ENV, PERSONAS, channel_specs())


def test_the_servers_own_settings_are_never_channel_secrets(tmp_path: Path) -> None:
    text = (
        "telegram:\n  - {persona: spanish-tutor, name: b, mode: polling,\n"
        "     bot_token: env:PERSONAE_ADMIN_TOKEN}\n"
    )
    message = _problems(tmp_path, text, {**ENV, "PERSONAE_ADMIN_TOKEN": "the-admin-token"})
    assert "telegram.0.bot_token: 'PERSONAE_ADMIN_TOKEN' is a personae setting" in message
    assert "the-admin-token" not in message


WA_TEMPLATE = """\
whatsapp:
  - {persona: spanish-tutor, phone_number_id: "1", access_token: a, app_secret: b,
     verify_token: c, template: TEMPLATE}
"""


@pytest.mark.parametrize("written", ["{name: hello_world, language: en_US}", '"hello_world:en_US"'])
def test_a_whatsapp_template_is_a_mapping_or_name_colon_language(
    tmp_path: Path, written: str
) -> None:
    [connection] = _load(tmp_path, WA_TEMPLATE.replace("TEMPLATE", written))
    assert isinstance(connection, WhatsAppConnection) and connection.template is not None
    assert (connection.template.name, connection.template.language) == ("hello_world", "en_US")


def test_a_bad_template_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ChannelsInvalid) as caught:
        _load(tmp_path, WA_TEMPLATE.replace("TEMPLATE", "{name: Hello World, language: en_US}"))
    message = str(caught.value)
    assert "whatsapp.0.template" in message and "language: en_US}" in message
