"""Where a person is, as far as the channel's identifiers say: a phone number's calling code
names a country, so the crisis protocol can give a line the person can actually call."""

from __future__ import annotations

# International calling codes of the countries the built-in crisis table covers. "1" is the
# US and Canada: both answer on 988.
CALLING_CODES: dict[str, str] = {
    "1": "US", "44": "GB", "353": "IE", "61": "AU", "64": "NZ", "49": "DE", "33": "FR",
    "34": "ES", "91": "IN",
}  # fmt: skip


def country_of_phone(number: str) -> str:
    """'+44 7700 900123' or '447700900123' -> 'GB'; '' for anything that is not an E.164
    number or whose calling code is not in the table."""
    digits = "".join(c for c in number if c not in " +-()")
    if not digits.isdigit() or not 8 <= len(digits) <= 15:
        return ""
    for length in (3, 2, 1):  # calling codes are prefix-free: at most one length matches
        country = CALLING_CODES.get(digits[:length])
        if country is not None:
            return country
    return ""


def locale_for(default_locale: str, phone: str) -> str:
    """The default locale's language with the phone number's country, or the default."""
    country = country_of_phone(phone) if phone else ""
    if not country:
        return default_locale
    return f"{default_locale.replace('_', '-').split('-')[0]}-{country}"
