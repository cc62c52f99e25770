"""Where a person is, as far as the channel says: a phone number's calling code names a
country, and a language tag (Telegram's ``language_code``, the browser's Accept-Language)
names a language and sometimes a region. The crisis protocol uses it to give a line the
person can actually call."""

from __future__ import annotations

import re

# International calling codes of the countries the built-in crisis table covers. "1" is the
# US and Canada: both answer on 988.
CALLING_CODES: dict[str, str] = {
    "1": "US", "44": "GB", "353": "IE", "61": "AU", "64": "NZ", "49": "DE", "33": "FR",
    "34": "ES", "91": "IN",
}  # fmt: skip
# A bare language names no country; these are spoken mostly in one country the crisis table
# covers, so a German speaker gets a German line rather than the default's. English names
# too many countries to guess one: it keeps the default's.
LANGUAGE_COUNTRIES: dict[str, str] = {"de": "DE", "fr": "FR", "es": "ES", "hi": "IN"}
# BCP 47 as platforms send it: language, optional script, optional region ("pt-BR",
# "zh-Hans-CN", "en_GB"); anything else is ignored rather than guessed at.
_TAG = re.compile(r"^([a-z]{2,3})(?:[-_][a-z]{4})?(?:[-_]([a-z]{2}|\d{3}))?(?:[-_].*)?$", re.I)
MAX_HEADER = 512  # an Accept-Language longer than this is not a browser's
MAX_TAG = 35  # the longest tag worth keeping (RFC 5646 section 4.4.1)


def country_of_phone(number: str) -> str:
    """'+44 7700 900123' or '447700900123' -> 'GB'; '' for anything that is not an E.164
    number or whose calling code is not in the table."""
    digits = "".join(c for c in number if c not in " +-()")
    if not digits.isascii() or not digits.isdigit() or not 8 <= len(digits) <= 15:
        return ""
    for length in (3, 2, 1):  # calling codes are prefix-free: at most one length matches
        country = CALLING_CODES.get(digits[:length])
        if country is not None:
            return country
    return ""


def parse_tag(tag: str) -> tuple[str, str]:
    """'en-GB' -> ('en', 'GB'); 'es-419' -> ('es', '419'); 'de' -> ('de', ''); anything
    malformed -> ('', '')."""
    match = _TAG.match(tag.strip()) if tag.isascii() else None
    if match is None:
        return "", ""
    return match.group(1).lower(), (match.group(2) or "").upper()


def preferred_language(header: str) -> str:
    """The tag an Accept-Language header prefers most ('fr-CH, fr;q=0.9, en;q=0.8' ->
    'fr-CH'); '' when it names none. Malformed entries and weights are skipped."""
    if len(header) > MAX_HEADER:
        return ""
    best, best_q = "", 0.0
    for entry in header.split(","):
        tag, _, params = entry.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        tag = tag.strip()
        if q > best_q and len(tag) <= MAX_TAG and parse_tag(tag)[0]:
            best, best_q = tag, q
    return best


def locale_for(default_locale: str, phone: str, tag: str = "") -> str:
    """The person's locale: the phone number's country first (it is where they are), then
    the language tag's region, then the tag's language's main country (only when the tag
    names no region: 'es-419', Latin America, is not Spain); the language is the tag's, else
    the default's. Nothing usable: the default."""
    default_language = default_locale.replace("_", "-").split("-")[0]
    language, region = parse_tag(tag) if tag else ("", "")
    guessed = LANGUAGE_COUNTRIES.get(language, "") if not region else ""
    country = country_of_phone(phone) if phone else ""
    country = country or (region if region.isalpha() else "") or guessed
    if not country:
        return default_locale
    return f"{language or default_language}-{country}"
