"""When a reply goes out as a short video of the persona, by its ``video_replies`` setting.

``on_request``: the person's message asks for one, in plain words: "send me a video", "record
a video for me", "can you make a clip", "a video message", "can I see you", "show me your
face". ``greetings``: the persona's first reply in a conversation, and replies to a short
hello ("hi", "hey there!", "good morning Ana"). English phrases only, on purpose: simple
enough that a creator can predict it; anything cleverer belongs to the model, not a regex.
"""

from __future__ import annotations

import re

from personae.types import Persona, StoredMessage, VideoPlan

_ASKS = re.compile(
    r"\b(send|record|make|film|show|shoot|do)\b[^.?!]{0,30}\b(video|clip|vid)s?\b"
    r"|\bvideo (message|reply|note)\b|\bcan i see you\b|\bshow me your face\b",
    re.IGNORECASE,
)
_HELLOS = ("hi", "hello", "hey", "hiya", "howdy", "yo", "greetings", "hola", "morning", "evening")
_GOOD = ("good morning", "good afternoon", "good evening", "good day")
GREETING_MAX_WORDS = 5


def asks_for_video(text: str) -> bool:
    return bool(_ASKS.search(text))


def is_greeting(text: str) -> bool:
    words = re.findall(r"[a-z']+", text.lower())
    if not words or len(words) > GREETING_MAX_WORDS:
        return False
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
