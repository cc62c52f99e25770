"""Voice — word error rate of each offline speech-to-text candidate on real recorded speech, side
by side, and the voice-note turn's real-time factor.

    .venv/bin/python bench/voice.py --data ../shared/data/speech --json bench/results/voice.json

WER: every clip of the speech set (manifest.jsonl) is transcribed by each candidate; hypothesis
and reference (``text_norm``) pass the same normaliser (case, punctuation, titles, numbers
spelled out) and WER is word edits summed over all clips / reference words summed (target
<= 0.15 for the default). voice_rtf: a 5-second OGG/Opus voice note goes through the turn's voice
path (decode + transcribe, the engine's reply, synthesise, encode as an OGG/Opus voice note); the
time from the received note to the encoded reply / the reply's audio duration (target <= 1.0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

from _common import (
    direct_request,
    direct_turn,
    fresh_home,
    machine_info,
    print_table,
    verdict,
    warn_if_busy,
    write_json,
)
from personae.settings import Settings
from personae.voice.adapters import speech_to_text
from personae.voice.notes import VoiceNotes

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "personae" / "samples"
MAX_REPLY_TOKENS = 48  # a spoken reply is a sentence or two
WER_TARGET = 0.15
RTF_TARGET = 1.0
SMALL = {
    "0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six",
    "7": "seven", "8": "eight", "9": "nine", "10": "ten", "11": "eleven", "12": "twelve",
    "13": "thirteen", "14": "fourteen", "15": "fifteen", "16": "sixteen", "17": "seventeen",
    "18": "eighteen", "19": "nineteen", "20": "twenty", "30": "thirty", "40": "forty",
    "50": "fifty", "60": "sixty", "70": "seventy", "80": "eighty", "90": "ninety",
}  # fmt: skip
TITLES = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint", "ok": "okay"}


def spell(number: str) -> str:
    """Whole numbers below 1000 in words (the speech set's references spell them out)."""
    value = int(number)
    if str(value) in SMALL:
        return SMALL[str(value)]
    if value < 100:
        return f"{SMALL[str(value - value % 10)]} {SMALL[str(value % 10)]}"
    if value < 1000:
        rest = f" {spell(str(value % 100))}" if value % 100 else ""
        return f"{SMALL[str(value // 100)]} hundred{rest}"
    return " ".join(SMALL[d] for d in number)  # digits read one by one


def normalise(text: str) -> list[str]:
    text = text.lower().replace("-", " ").replace("’", "'")
    text = re.sub(r"\d+", lambda m: f" {spell(m.group())} ", text)
    text = re.sub(r"[^a-z' ]+", " ", text)
    words = [w.strip("'") for w in text.split()]
    return [TITLES.get(w, w) for w in words if w]


def edits(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


async def measure_wer(
    name: str, settings: Settings, clips: list[dict[str, Any]], data: Path
) -> dict[str, Any]:
    stt = speech_to_text(settings, name)
    errors = words = 0
    worst: list[tuple[float, str, str, str]] = []
    audio_s = 0.0
    started = time.perf_counter()
    for clip in clips:
        transcript = await stt.transcribe((data / clip["file"]).read_bytes(), "audio/wav")
        ref, hyp = normalise(clip["text_norm"]), normalise(transcript.text)
        wrong = edits(ref, hyp)
        errors, words, audio_s = errors + wrong, words + len(ref), audio_s + clip["duration_s"]
        worst.append((wrong / max(1, len(ref)), clip["file"], " ".join(ref), " ".join(hyp)))
    elapsed = time.perf_counter() - started
    worst.sort(reverse=True)
    return {
        "candidate": name,
        "wer": errors / words,
        "errors": errors,
        "words": words,
        "rtf": elapsed / audio_s,
        "worst": [dict(zip(("wer", "file", "ref", "hyp"), w, strict=True)) for w in worst[:3]],
    }


async def measure_rtf(
    settings: Settings, data: Path, clips: list[dict[str, Any]]
) -> dict[str, Any]:
    """A 5-second voice note in, an encoded voice-note reply out: heard by the same VoiceNotes
    the turn uses, answered by the embedded model as a sample persona, spoken and encoded as
    OGG/Opus. One untimed round first loads the models and caches the persona's prefix."""
    from personae.core.personas import load_persona_file
    from personae.plugins import engine_factories
    from personae.voice import codec

    five = next(c for c in clips if 4.0 <= c["duration_s"] <= 6.5)
    note = codec.encode(codec.decode((data / five["file"]).read_bytes(), max_seconds=60), "opus")
    persona = load_persona_file(SAMPLES / "travel-planner.yaml")
    engine = await engine_factories()["llamacpp"](settings, None)
    voice = VoiceNotes(settings)

    stages: dict[str, float] = {}

    async def one_round() -> tuple[str, str, float, float]:
        started = time.perf_counter()
        heard = await voice.hear(note, "audio/ogg; codecs=opus")
        stages["hear_s"] = time.perf_counter() - started
        reply = await direct_turn(engine, direct_request(persona, heard.text, MAX_REPLY_TOKENS))
        stages["reply_s"] = time.perf_counter() - started - stages["hear_s"]
        spoken = await voice.speak(reply.text, persona.voice, "opus")
        elapsed = time.perf_counter() - started
        stages["speak_encode_s"] = elapsed - stages["hear_s"] - stages["reply_s"]
        return heard.text, reply.text, spoken.duration_s, elapsed

    try:
        await one_round()
        heard, reply, reply_s, elapsed = await one_round()
    finally:
        await engine.aclose()
    return {
        "note_s": five["duration_s"],
        "heard": heard,
        "reply": reply,
        "reply_audio_s": reply_s,
        "elapsed_s": elapsed,
        "voice_rtf": elapsed / reply_s,
        "tts": voice.tts_name(persona.voice),
        "stt": voice.stt.name,
        "llm": engine.info.model,
        "stages": stages,
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    warn_if_busy()
    clips = [
        json.loads(line)
        for line in (args.data / "manifest.jsonl").read_text().splitlines()
        if line.strip()
    ]
    with fresh_home() as home:
        settings = Settings(home=home, voice_threads=args.threads)
        results = [await measure_wer(name, settings, clips, args.data) for name in args.candidates]
        rtf_settings = Settings(
            home=home, voice_threads=args.threads, tts_engine=args.tts, log_level="warning",
        )  # fmt: skip
        rtf = await measure_rtf(rtf_settings, args.data, clips)
    print_table(  # no rows when --candidates is given empty (voice_rtf only)
        ["candidate", "wer", "errors", "words", "rtf (transcribe)", "target"],
        [
            [
                r["candidate"],
                r["wer"],
                r["errors"],
                r["words"],
                r["rtf"],
                verdict(r["wer"] <= WER_TARGET),
            ]
            for r in results
        ]
        or [["(none)", 0.0, 0, 0, 0.0, ""]],
    )
    print()
    print_table(
        ["stt", "tts", "note s", "reply audio s", "elapsed s", "voice_rtf", "target"],
        [
            [
                rtf["stt"],
                rtf["tts"],
                rtf["note_s"],
                rtf["reply_audio_s"],
                rtf["elapsed_s"],
                rtf["voice_rtf"],
                verdict(rtf["voice_rtf"] <= RTF_TARGET),
            ]
        ],
    )
    best = min(results, key=lambda r: r["wer"]) if results else {"candidate": None}
    return {
        "clips": len(clips),
        "candidates": results,
        "wer": results[0]["wer"] if results else None,
        "best": best["candidate"],
        "voice_rtf": rtf["voice_rtf"],
        "voice_turn": rtf,
        "targets": {"wer": WER_TARGET, "voice_rtf": RTF_TARGET},
        "machine": machine_info(),
    }


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--data", type=Path, default=Path("../shared/data/speech"))
    cli.add_argument("--json", type=Path, default=None, help="write the result as JSON here")
    cli.add_argument("--candidates", nargs="*", default=["whisper", "pocketsphinx"])
    cli.add_argument("--tts", default="piper", help="text-to-speech for voice_rtf (default: piper)")
    cli.add_argument("--threads", type=int, default=2)
    arguments = cli.parse_args()
    write_json(arguments.json, asyncio.run(main(arguments)))
