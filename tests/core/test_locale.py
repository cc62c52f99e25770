"""A person's country from their phone number or the language tag their channel reports, so
the crisis protocol names a line they can call: calling codes, language tags, Accept-Language
headers, hostile input, and the audience the safety policy builds from them."""

from __future__ import annotations

import pytest

from personae.core.locale import country_of_phone, locale_for, preferred_language
from personae.core.safety import SafetyPolicy
from personae.guards.crisis import DEFAULT_RESOURCES, crisis_reply


@pytest.mark.parametrize(
    ("number", "country"),
    [
        ("447700900123", "GB"),
        ("+44 7700 900123", "GB"),
        ("353851234567", "IE"),
        ("16505551234", "US"),
        ("61412345678", "AU"),
        ("4915112345678", "DE"),
        ("919812345678", "IN"),
        ("5511912345678", ""),  # Brazil: not in the table, so the default applies
        ("", ""),
        ("+44", ""),
        ("44abc7700900", ""),
        ("4" * 40, ""),
        ("٤٤٧٧٠٠٩٠٠١٢٣", ""),  # Arabic-Indic digits are no WhatsApp id
    ],
)
def test_country_of_phone(number: str, country: str) -> None:
    assert country_of_phone(number) == country


def test_policy_audience_takes_the_country_from_the_phone() -> None:
    policy = SafetyPolicy(guards=(), default_locale="en-US")
    assert policy.audience("whatsapp:1", ["hi"], "447700900123").locale == "en-GB"
    assert policy.audience("whatsapp:1", ["hi"], "").locale == "en-US"
    assert policy.audience("whatsapp:1", ["I'm 14"], "353851234567").audience == "teen"
    assert locale_for("fr_FR", "34612345678") == "fr-ES"


@pytest.mark.parametrize(
    ("header", "tag"),
    [
        ("en-GB,en;q=0.9", "en-GB"),
        ("fr;q=0.5, de-DE;q=0.8, *;q=0.1", "de-DE"),
        ("de", "de"),
        ("", ""),
        ("*", ""),
        ("en-GB;q=abc, fr-FR;q=0.3", "fr-FR"),  # a malformed weight counts as 0
        ("12-34, ;;;, ==", ""),
        ("en-" + "x" * 600, ""),  # no browser sends this much
        ("ру-RU", ""),  # not ASCII: no language tag
    ],
)
def test_preferred_language_of_an_accept_language_header(header: str, tag: str) -> None:
    assert preferred_language(header) == tag


@pytest.mark.parametrize(
    ("phone", "tag", "locale"),
    [
        ("", "en-GB", "en-GB"),  # the browser's region
        ("", "en_AU", "en-AU"),
        ("", "de", "de-DE"),  # a language spoken mostly in one country of the table
        ("", "fr", "fr-FR"),
        ("", "en", "en-US"),  # English names no one country: the default stays
        ("", "pt-BR", "pt-BR"),  # not in the table: crisis_reply falls back to the default
        ("", "zh-Hans-CN", "zh-CN"),
        ("", "es-419", "en-US"),  # Latin America: no one country, and not Spain's line
        ("447700900123", "de-DE", "de-GB"),  # the phone says where they are
        ("", "not a tag!", "en-US"),
        ("", "\x00\ud800", "en-US"),
    ],
)
def test_locale_from_a_language_tag(phone: str, tag: str, locale: str) -> None:
    assert locale_for("en-US", phone, tag) == locale


def test_crisis_resources_follow_a_language_tag() -> None:
    policy = SafetyPolicy(guards=(), default_locale="en-US")
    for tag, expected in (("en-GB", "GB"), ("de", "DE"), ("en-IE", "IE"), ("en", "US")):
        locale = policy.audience("telegram:bot", ["hi"], "", tag).locale
        assert crisis_reply(locale, DEFAULT_RESOURCES).count(DEFAULT_RESOURCES[expected]) == 1
