"""Personas that present as real living people: allowed only with the person's consent on
record. Names are compared after folding homoglyphs (Cyrillic "а", full-width letters,
digits for letters) and allowing one typo in longer names ("Taylor Swif")."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from pathlib import Path

from personae.errors import ConfigError, PersonaInvalid, Problem
from personae.types import Persona

# Well-known living people most often impersonated by chat bots (public reporting on celebrity
# bots); operators add their own with PERSONAE_PROTECTED_NAMES / _FILE.
BUILTIN_PROTECTED = (
    "Taylor Swift", "Scarlett Johansson", "Anne Hathaway", "Selena Gomez", "Elon Musk",
    "Barack Obama", "Donald Trump", "Joe Biden", "Kamala Harris", "Beyonce", "Rihanna",
    "Kim Kardashian", "Billie Eilish", "Ariana Grande", "Justin Bieber", "Lady Gaga",
    "Oprah Winfrey", "Keanu Reeves", "Tom Cruise", "Dwayne Johnson", "Emma Watson",
    "Zendaya", "Cristiano Ronaldo", "Lionel Messi", "LeBron James", "Mark Zuckerberg",
    "Bill Gates", "Jeff Bezos", "Pope Francis", "Dalai Lama", "Greta Thunberg", "MrBeast",
)  # fmt: skip
# Letters that look Latin but are not, and digits used for letters.
_CONFUSABLES = str.maketrans(
    {
        "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i",
        "ј": "j", "ѕ": "s", "ԁ": "d", "ɡ": "g", "һ": "h", "ӏ": "l", "к": "k", "м": "m",
        "т": "t", "в": "b", "н": "h", "α": "a", "ο": "o", "ε": "e", "ι": "i", "κ": "k",
        "ν": "v", "τ": "t", "υ": "u", "ρ": "p", "χ": "x", "0": "o", "1": "l", "3": "e",
        "4": "a", "5": "s", "7": "t", "$": "s", "@": "a", "ß": "ss",
    }
)  # fmt: skip


def fold(name: str) -> str:
    """A name reduced to the Latin letters it looks like, lower case, single spaces."""
    text = unicodedata.normalize("NFKC", name).lower().translate(_CONFUSABLES)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = "".join(c if c.isalpha() else " " for c in text)
    return " ".join(text.replace("\u200b", "").split())


def _close(a: str, b: str) -> bool:
    """Equal, or one edit apart when both are long enough for that to be a typo."""
    if a == b:
        return True
    if min(len(a), len(b)) < 8 or abs(len(a) - len(b)) > 1:
        return False
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1] <= 1


class ProtectedNames:
    def __init__(self, names: Iterable[str]) -> None:
        self._names = {fold(n): n for n in names if fold(n)}

    @classmethod
    def of(cls, extra: str, file: Path | None) -> ProtectedNames:
        names = [*BUILTIN_PROTECTED, *(n.strip() for n in extra.split(",") if n.strip())]
        if file is not None:
            try:
                lines = file.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as err:
                raise ConfigError(
                    f"protected names file {str(file)!r} cannot be read ({err}); it must be "
                    "UTF-8 text with one name a line (PERSONAE_PROTECTED_NAMES_FILE)"
                ) from None
            names += [n.strip() for n in lines if n.strip() and not n.startswith("#")]
        return cls(names)

    def match(self, text: str) -> str | None:
        """The protected name ``text`` reads as (whole, or as a run of its words)."""
        folded = fold(text)
        if not folded:
            return None
        words = folded.split()
        for key, name in self._names.items():
            size = len(key.split())
            for i in range(max(len(words) - size + 1, 1)):
                if _close(" ".join(words[i : i + size]), key):
                    return name
        return None

    def check(self, persona: Persona, source: str) -> None:
        """Raises PersonaInvalid for a persona that presents as a real person without consent."""
        safety = persona.safety
        if safety.impersonates and not safety.consent_recorded:
            raise PersonaInvalid(
                source,
                [
                    Problem(
                        "safety.consent_recorded",
                        f"the persona presents as {safety.impersonates!r}, a real person, "
                        "without their recorded consent",
                        "false",
                        "get the person's consent and set `safety.consent_recorded: true`, or "
                        "remove `safety.impersonates`",
                    )
                ],
            )
        for field, value in (("name", persona.name), ("id", persona.id.replace("-", " "))):
            found = self.match(value)
            if found is None:
                continue
            consented = (
                safety.impersonates is not None
                and safety.consent_recorded
                and fold(safety.impersonates) == fold(found)
            )
            if not consented:
                raise PersonaInvalid(
                    source,
                    [
                        Problem(
                            field,
                            f"{value!r} reads as {found!r}, a real living person; a persona may "
                            "not present as them without their consent",
                            value,
                            f"choose another name, or set `safety.impersonates: {found}` and "
                            "`safety.consent_recorded: true` once they have consented",
                        )
                    ],
                )
