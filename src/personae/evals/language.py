"""Which language a reply is mostly in, offline: common function words of each language counted.

Enough to tell a Spanish reply from an English one (a chat reply has dozens of them); not a
general language identifier. Words shared by two languages ("de", "a") are left out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_WORDS: Mapping[str, frozenset[str]] = {
    "en": _words(
        """the and is are you your to of in it that for with this what can be have i my me do
        not but so if on at an or we they he she very good how was will would just"""
    ),
    "es": _words(
        """el la los las que y en un una es por para con no se lo su al del más muy pero como
        está estás estoy hola gracias sí también puedes quieres tú yo mi bien ser estar hoy
        qué cómo eres soy usted nosotros ahora vamos bueno"""
    ),
    "fr": _words(
        """le les des est et un une pour avec ne pas vous nous je tu il elle mais comme très
        bien être avoir bonjour merci oui aussi ce cette qui dans sur"""
    ),
    "de": _words(
        """der die das und ist ein eine nicht ich du sie wir mit für auf aber wie sehr gut
        sein haben hallo danke ja auch dass oder zu"""
    ),
    "it": _words(
        """il lo gli della è e un una per con non che sono mi ti ma come molto bene essere
        avere ciao grazie sì anche questo questa"""
    ),
    "pt": _words(
        """o os as da do das dos é e um uma para com não que eu você nós mas como muito bem
        ser ter olá obrigado obrigada sim também isso está"""
    ),
}
_WORD = re.compile(r"[^\W\d_]+")
LANGUAGE_NAMES = {
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "de": "German",
    "it": "Italian",
    "pt": "Portuguese",
}


def language_counts(text: str) -> dict[str, int]:
    """How many of each language's common words the text has."""
    words = _WORD.findall(text.lower())
    return {code: sum(w in vocabulary for w in words) for code, vocabulary in _WORDS.items()}


def main_language(text: str) -> str | None:
    """The language with the most common words; None when no language has any, or a tie."""
    counts = language_counts(text)
    best = max(counts.values())
    leaders = [code for code, count in counts.items() if count == best]
    return leaders[0] if best > 0 and len(leaders) == 1 else None
