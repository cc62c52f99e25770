"""When a reply is a video: the persona file's ``video_replies`` (read and checked like the rest
of the file), the plain phrases that ask for a video, and what counts as a greeting."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from personae.core.personas import parse_persona_text
from personae.core.video_replies import asks_for_video, is_greeting, video_plan
from personae.errors import MediaError, PersonaInvalid
from personae.types import StoredMessage, VideoPlan

BASE = "id: ana\nname: Ana\ngreeting: Hi!\navatar: data:image/png;base64,AAAA\n"


def said(text: str, role: str = "user") -> StoredMessage:
    return StoredMessage(1, "c", role, text, datetime.now(UTC))  # type: ignore[arg-type]


def test_video_replies_is_read_and_defaults_to_never() -> None:
    assert parse_persona_text(BASE, "ana.yaml").video_replies == "never"
    persona = parse_persona_text(BASE + "video_replies: greetings\n", "ana.yaml")
    assert persona.video_replies == "greetings"


def test_an_unknown_video_replies_value_is_located_with_the_choices() -> None:
    with pytest.raises(PersonaInvalid) as caught:
        parse_persona_text(BASE + "video_replies: sometimes\n", "ana.yaml")
    text = str(caught.value)
    assert "ana.yaml: video_replies" in text
    assert "write one of 'never', 'on_request' or 'greetings'" in text


@pytest.mark.parametrize(
    "text",
    ["send me a video", "Can you record a video for me?", "make a quick clip!",
     "a video message please", "can I see you", "show me your face", "Send vids"],
)  # fmt: skip
def test_plain_requests_for_a_video_are_heard(text: str) -> None:
    assert asks_for_video(text)


@pytest.mark.parametrize(
    "text",
    ["I watched a video yesterday", "what's your favourite video game", "send me a photo",
     "hello"],
)  # fmt: skip
def test_talk_about_videos_is_not_a_request(text: str) -> None:
    assert not asks_for_video(text)


# The languages of the crisis table's countries (core/locale.py): Spanish, French, German,
# Hindi (Devanagari and romanised), beside English above.
ASKED_ABROAD = [
    "¿Me mandas un vídeo?", "Envíame un video, porfa", "grábame un clip", "hazme un video",
    "¿puedes hacer un video para mí?", "muéstrame tu cara",
    "envoie-moi une vidéo", "Tu peux faire une vidéo pour moi ?", "un message vidéo stp",
    "Schick mir ein Video!", "Kannst du ein Video machen?", "Videonachricht bitte",
    "zeig mir dein Gesicht",
    "मुझे एक वीडियो भेजो", "वीडियो बनाओ ना", "क्या मैं तुम्हें देख सकता हूँ", "video bhejo yaar",
]  # fmt: skip
TOLD_ABROAD = [
    "vi un video ayer", "Grabé un video ayer", "¿cuál es tu videojuego favorito?",
    "mándame una foto", "j'ai regardé une vidéo hier", "j'ai envoyé une vidéo à ma mère",
    "envoie-moi une photo", "ich habe gestern ein Video gesehen", "schick mir ein Foto",
    "मैंने कल एक वीडियो देखा", "मुझे एक फोटो भेजो",
]  # fmt: skip


@pytest.mark.parametrize("text", ASKED_ABROAD)
def test_requests_for_a_video_are_heard_in_the_crisis_locales_languages(text: str) -> None:
    assert asks_for_video(text)


@pytest.mark.parametrize("text", TOLD_ABROAD)
def test_talk_about_videos_is_not_a_request_in_those_languages(text: str) -> None:
    assert not asks_for_video(text)


@pytest.mark.parametrize(
    "text", ["¡Hola!", "buenos días Ana", "Guten Morgen", "Bonjour !", "नमस्ते", "namaste ji"]
)
def test_hellos_in_those_languages_are_greetings(text: str) -> None:
    assert is_greeting(text)


@pytest.mark.parametrize("text", ["hi", "Hey there!", "good morning Ana", "hello :)", "yo"])
def test_short_hellos_are_greetings(text: str) -> None:
    assert is_greeting(text)


@pytest.mark.parametrize("text", ["history of hip hop", "hi, can you help me fix my code now", ""])
def test_other_messages_are_not_greetings(text: str) -> None:
    assert not is_greeting(text)


def test_the_plan_follows_the_setting() -> None:
    never = parse_persona_text(BASE, "ana.yaml")
    asked = parse_persona_text(BASE + "video_replies: on_request\n", "ana.yaml")
    greets = parse_persona_text(BASE + "video_replies: greetings\n", "ana.yaml")
    earlier = (said("hi"), said("Hi!", "assistant"))
    assert video_plan(never, said("send me a video"), ()) is None
    plan = video_plan(asked, said("send me a video"), earlier)
    assert plan == VideoPlan(asked.voice, asked.avatar, "Ana")
    assert video_plan(asked, said("hi"), ()) is None
    assert video_plan(greets, said("what's new"), ()) is not None  # its first reply
    assert video_plan(greets, said("what's new"), earlier) is None
    assert video_plan(greets, said("hey again"), earlier) is not None
    assert VideoPlan.from_payload(plan.payload()) == plan  # as kept in the outbox row


async def test_avatars_come_from_allowed_files_and_data_uris_only(tmp_path: Path) -> None:
    from personae.core.avatars import AvatarPolicy
    from personae.settings import Settings
    from personae.video.replies import VideoReplies
    from personae.voice.notes import VoiceNotes

    picture = tmp_path / "ana.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n-bytes")
    replies = VideoReplies(VoiceNotes(Settings()), AvatarPolicy.of([tmp_path], ""))
    assert await replies.avatar(str(picture)) == picture.read_bytes()
    assert await replies.avatar("data:image/png;base64,aGk=") == b"hi"
    assert await replies.avatar(None) is None
    assert await replies.avatar("https://cdn.example.com/ana.png") is None  # never fetched
    with pytest.raises(MediaError, match="no image file"):
        await replies.avatar(str(tmp_path / "ana.svg"))
    with pytest.raises(MediaError, match="outside the allowed folders"):
        await replies.avatar("/etc/hostname.png")
    with pytest.raises(MediaError, match="not valid base64"):
        await replies.avatar("data:image/png;base64,@@@")
