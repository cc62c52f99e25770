"""When a reply goes out as a short video of the persona, by its ``video_replies`` setting.

``on_request``: the person's message asks for one, in plain words: "send me a video", "record
a video for me", "can you make a clip", "a video message", "can I see you", "show me your
face". ``greetings``: the persona's first reply in a conversation, and replies to a short
hello ("hi", "hey there!", "good morning Ana"). Plain phrases on purpose: simple enough that
a creator can predict it; anything cleverer belongs to the model, not a regex.

The phrases cover the languages of the countries the crisis table covers (core/locale.py):
English, Spanish, French, German and Hindi (Devanagari and romanised).
"""

from __future__ import annotations

import re

from personae.types import Persona, StoredMessage, VideoPlan

# One pattern per language: a verb of sending or making near the word for a video, or a set
# phrase ("video message", "can I see you", "show me your face").
_REQUESTS = {
    "en": r"\b(send|record|make|film|show|shoot|do)\b[^.?!]{0,30}\b(video|clip|vid)s?\b"
    r"|\bvideo (message|reply|note)\b|\bcan i see you\b|\bshow me your face\b",
    # Past tenses ("grabé un video", "j'ai envoyé une vidéo": it was sent) tell, not ask.
    "es": r"\b((env[ií]|m[aá]nd|gr[aá]b|film)(?!é|ó|ad[oa])\w*|haz\w*|hac(er|es)\w*)\b"
    r"[^.?!]{0,30}\b(v[ií]deos?|clips?)\b|\b(v[ií]deo\s?mensajes?|mensajes? de v[ií]deo)\b"
    r"|\bpuedo verte\b|\bmu[eé]strame tu cara\b",
    "fr": r"\b((envo[iy]|film|enregistr|tourn)(?!é)\w*|fais|faire)\b[^.?!]{0,30}"
    r"\b(vid[ée]os?|clips?)\b|\bmessages? vid[ée]o\b|\bpeux te voir\b"
    r"|\bmontre[- ]moi ton visage\b",
    "de": r"\b((schick|send|mach|dreh|film)(?!te)\w*|nimm)\b[^.?!]{0,30}"
    r"\b(video|clip)s?\b|\bvideo\b[^.?!]{0,30}\b(machen|schicken|senden|drehen|aufnehmen)\b"
    r"|\bvideo-?nachricht(en)?\b|\bkann ich dich sehen\b"
    r"|\bzeig mir dein gesicht\b",
    # Hindi puts the verb last ("वीडियो भेजो", send a video); Devanagari vowel signs are not
    # word characters, so these match without \b.
    "hi": r"वीडियो[^.?!।]{0,30}(भेज|बना|रिकॉर्ड)|(मैं|मै) (तुम्हें|तुमको|आपको) देख सक"
    r"|चेहरा दिखा|\bvideo\b[^.?!]{0,30}\b(bhej|bana|record kar)\w*",
}
_ASKS = re.compile("|".join(f"(?:{p})" for p in _REQUESTS.values()), re.IGNORECASE)
_HELLOS = (
    "hi", "hello", "hey", "hiya", "howdy", "yo", "greetings", "morning", "evening",
    "hola", "buenas", "hallo", "servus", "moin", "bonjour", "salut", "coucou", "bonsoir",
    "namaste",
)  # fmt: skip
_GOOD = (
    "good morning", "good afternoon", "good evening", "good day", "buenos días",
    "buenas tardes", "buenas noches", "guten morgen", "guten tag", "guten abend",
)  # fmt: skip
_HELLO_SCRIPTS = ("नमस्ते", "नमस्कार")  # Devanagari: compared as the message's start
GREETING_MAX_WORDS = 5


def asks_for_video(text: str) -> bool:
    return bool(_ASKS.search(text))


def is_greeting(text: str) -> bool:
    words = re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)?", text.lower())
    if not words or len(words) > GREETING_MAX_WORDS:
        return False
    if text.strip().startswith(_HELLO_SCRIPTS):
        return True
    return words[0] in _HELLOS or " ".join(words[:2]) in _GOOD


def video_plan(
    persona: Persona, message: StoredMessage, history: tuple[StoredMessage, ...]
) -> VideoPlan | None:
    """The video to send for the reply to ``message``, or None for text (or voice)."""
    mode = persona.video_replies
    if mode == "on_request":
        wanted = asks_for_video(message.content)
    elif mode == "greetings":
        first = not any(m.role == "assistant" for m in history)
        wanted = first or is_greeting(message.content)
    else:
        wanted = False
    return VideoPlan(persona.voice, persona.avatar, persona.name) if wanted else None
