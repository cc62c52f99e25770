"""A person's country from their phone number, so the crisis protocol names a line they can
call: calling codes, hostile input, and the audience the safety policy builds from it."""

from __future__ import annotations

import pytest

from personae.core.locale import country_of_phone, locale_for
from personae.core.safety import SafetyPolicy


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
