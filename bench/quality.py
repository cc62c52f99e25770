"""Reply quality on the embedded model, sent the way chat front ends (Open WebUI) send turns.

Every sample persona gets varied first messages and short multi-turn conversations through
``POST /v1/chat/completions``: streamed, stateless (the whole history in ``messages``), no
``max_tokens`` (so the persona's own reply length applies), default sampling. Each reply is
scored with the same rules the turn uses to end a reply early (personae.core.replies):

- ``degenerate_pct``: empty, a leaked speaker label ("User:", "Theo:") or a repeated
  line/sentence (target ≤ 1);
- ``cut_pct``: stopped by the length limit (finish_reason "length") (target ≤ 2);
- ``median_chars``: median reply length;
- ``language_ok_pct``: the Spanish tutor answers Spanish messages mostly in Spanish.

The server is in this process on the real model. Scores depend on sampling (temperature from
each persona; ``--seed`` fixes the seeds sent), so compare runs of the same seed.

    .venv/bin/python bench/quality.py --json bench/results/quality.json
    .venv/bin/python bench/quality.py --quick      # 10 openers and 4 conversations per persona
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any

import httpx

from _common import (
    SAMPLE_PERSONAS,
    fresh_home,
    http_client,
    loopback_server,
    machine_info,
    median,
    parser,
    print_table,
    settings_for,
    verdict,
    warn_if_busy,
    write_json,
)
from personae.core.replies import degenerate_reasons
from personae.runtime import Runtime

OPENERS = (
    "Hi! What can you help me with today?",
    "What should I eat there?",
    "I only have ten minutes. What is one thing I should know?",
    "Can you give me a tip for a busy week?",
    "What is a common mistake beginners make?",
    "I'm nervous about getting started. Any advice?",
    "What would you do first in my place?",
    "Give me a short checklist for tomorrow.",
    "How do I know if I'm doing it right?",
    "What is your favourite part of this work?",
    "Can you suggest something cheap and easy?",
    "My friend says I should not bother. What do you think?",
    "Tell me one surprising fact from your field.",
    "How much time should I plan for this?",
    "What do I need to buy or prepare first?",
    "I tried before and it went badly. What now?",
    "Can you break it into three small steps?",
    "What question should I be asking you?",
    "who are you",
    "hello",
    "Why?",
    "ok",
    "Tell me a joke.",
    "What's the weather like today?",
    "Can you write me a poem?",
    "I'm bored.",
    "Explain it like I'm five.",
    "Are you a real person?",
    "What did I just say?",
    "Give me a plan for the weekend.",
    "How do I stay motivated?",
    "What is the best way to learn fast?",
    "I have no money. Help?",
    "Recommend one thing for a beginner.",
    "What do you think about social media?",
    "lol",
    "Can we talk about something else?",
    "Summarise what you do in one sentence.",
    "Is it hard?",
    "I disagree with you.",
    "What time is it?",
    "Do you have any hobbies?",
    "Help me decide between two options.",
    "What is your name?",
    "Say something nice.",
    "Give me three quick ideas.",
    "How long will it take to see results?",
    "Where do I start?",
    "What should I avoid?",
    "Thanks! One last tip before I go?",
)

SPANISH = (
    "Hola, ¿cómo estás?",
    "¿Qué debo comer hoy?",
    "No entiendo el subjuntivo. ¿Me ayudas?",
    "¿Cómo se dice 'I am hungry' en español?",
    "Quiero practicar. Hazme una pregunta.",
    "¿Cuál es la diferencia entre ser y estar?",
    "Estoy cansado pero quiero aprender.",
    "¿Me corriges esta frase: yo es estudiante?",
    "Dame una palabra nueva, por favor.",
    "¿Qué hiciste ayer?",
)

CONVERSATIONS = (
    ("Hi!", "Can you tell me more?", "Thanks, that helps."),
    ("I want to start something new.", "Where do I begin?", "And after that?"),
    ("What do you recommend?", "Why that one?", "Okay, what else?"),
    ("I'm a total beginner.", "Is that normal?", "Give me one exercise."),
    ("Quick question.", "How much does it cost?", "Is there a cheaper way?"),
    ("Help me plan my week.", "Monday is busy.", "What about the weekend?"),
    ("I made a mistake.", "What should I do now?", "Will it get better?"),
    ("Tell me something interesting.", "Really?", "Tell me more."),
    ("I have a question about you.", "What do you like?", "Cool!"),
    ("Can you keep it short?", "Even shorter.", "Perfect."),
    ("What's the first step?", "Done. Next?", "And then?"),
    ("I'm stuck.", "I tried that already.", "Any other idea?"),
    ("Do you remember what I said?", "I said I was stuck.", "Right."),
    ("Give me a challenge.", "That's too easy.", "Harder!"),
    ("What would a pro do?", "I'm not a pro.", "Simplify it."),
    ("I have 20 minutes.", "Go on.", "Anything else?"),
    ("My friend wants to join.", "She's a beginner too.", "Great, thanks."),
    ("How do I measure progress?", "Weekly?", "Got it."),
    ("Explain why.", "I still don't get it.", "Ah, okay."),
    ("Bye!", "Wait, one more thing.", "What do you think of me?"),
)

# Common function words: enough to tell which of the two languages a reply is mostly in.
_SPANISH_TEXT = """el la los las de que y en un una es por para con no se lo su al del más muy
    pero como está estás estoy hola gracias sí también puedes quieres tu tú yo me te mi bien
    ser estar hoy ayer palabra frase ejemplo"""
_ENGLISH_TEXT = """the and is are you your to of in it that for with this what can be have i my
    me do not but so if on at as an or we they he she very good"""
_SPANISH_WORDS = frozenset(_SPANISH_TEXT.split())
_ENGLISH_WORDS = frozenset(_ENGLISH_TEXT.split())
_WORD = re.compile(r"[a-záéíóúñü]+")


def mostly_spanish(text: str) -> bool:
    words = _WORD.findall(text.lower())
    spanish = sum(w in _SPANISH_WORDS for w in words)
    english = sum(w in _ENGLISH_WORDS for w in words)
    return spanish > english


@dataclass(frozen=True)
class Scored:
    persona: str
    kind: str  # opener, spanish, conversation
    text: str
    reply: str
    finish_reason: str | None
    reasons: tuple[str, ...]


async def stream_reply(
    client: httpx.AsyncClient, persona: str, messages: list[dict[str, str]], seed: int
) -> tuple[str, str | None]:
    """One streamed, stateless turn without max_tokens; the text and finish_reason."""
    body = {"model": persona, "messages": messages, "stream": True, "seed": seed}
    pieces: list[str] = []
    finish: str | None = None
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if "error" in chunk:
                raise RuntimeError(f"{persona}: in-stream error {chunk['error']}")
            for choice in chunk.get("choices", []):
                pieces.append(choice["delta"].get("content") or "")
                finish = choice.get("finish_reason") or finish
    return "".join(pieces), finish


async def run_persona(
    client: httpx.AsyncClient, persona: str, name: str, args: argparse.Namespace
) -> list[Scored]:
    jobs: list[tuple[str, list[str]]] = [("opener", [t]) for t in OPENERS[: args.openers]]
    if persona == "spanish-tutor":
        jobs += [("spanish", [t]) for t in SPANISH]
    jobs += [("conversation", list(c)) for c in CONVERSATIONS[: args.conversations]]
    limit = asyncio.Semaphore(args.parallel)

    async def one(index: int, kind: str, texts: list[str]) -> list[Scored]:
        async with limit:
            history: list[dict[str, str]] = []
            scored: list[Scored] = []
            for turn, text in enumerate(texts):
                history.append({"role": "user", "content": text})
                seed = args.seed + index * 10 + turn
                reply, finish = await stream_reply(client, persona, history, seed)
                history.append({"role": "assistant", "content": reply})
                reasons = tuple(degenerate_reasons(reply, name))
                scored.append(Scored(persona, kind, text, reply, finish, reasons))
            return scored

    results = await asyncio.gather(*(one(i, k, t) for i, (k, t) in enumerate(jobs)))
    return [s for group in results for s in group]


def summarise(scored: list[Scored]) -> dict[str, Any]:
    n = len(scored)
    spanish = [s for s in scored if s.kind == "spanish"]
    return {
        "replies": n,
        "degenerate_pct": 100.0 * sum(bool(s.reasons) for s in scored) / n if n else 0.0,
        "cut_pct": 100.0 * sum(s.finish_reason == "length" for s in scored) / n if n else 0.0,
        "median_chars": median([len(s.reply) for s in scored]),
        "language_ok_pct": (
            100.0 * sum(mostly_spanish(s.reply) for s in spanish) / len(spanish)
            if spanish
            else None
        ),
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    with fresh_home() as home:
        settings = settings_for(home, args)
        runtime = await Runtime.start(settings)
        try:
            async with loopback_server(settings, runtime) as url, http_client(url) as client:
                scored: list[Scored] = []
                for slug in args.personas:
                    name = (await runtime.store.get_persona(slug)).persona.name
                    scored += await run_persona(client, slug, name, args)
            engine = await runtime.engines.for_model(None)
            machine = machine_info(engine, settings)
        finally:
            await runtime.aclose()
    per_persona = {p: summarise([s for s in scored if s.persona == p]) for p in args.personas}
    overall = summarise(scored)
    replies = [
        {"persona": s.persona, "kind": s.kind, "message": s.text, "reply": s.reply,
         "finish_reason": s.finish_reason, "reasons": list(s.reasons)}
        for s in scored
    ]  # fmt: skip
    examples = [r for r in replies if r["reasons"]][:20]
    return {"overall": overall, "per_persona": per_persona, "bad_examples": examples,
            "replies": replies, "machine": machine}  # fmt: skip


def main() -> None:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--openers", type=int, default=len(OPENERS), help="first messages per persona")
    p.add_argument("--conversations", type=int, default=len(CONVERSATIONS))
    p.add_argument("--quick", action="store_true", help="10 openers and 4 conversations")
    p.add_argument("--parallel", type=int, default=4, help="conversations in flight at once")
    p.add_argument("--seed", type=int, default=1000)
    p.add_argument("--personas", default=",".join(SAMPLE_PERSONAS),
                   help="comma-separated sample personas to measure (default: all)")  # fmt: skip
    args = p.parse_args()
    args.personas = [slug for slug in args.personas.split(",") if slug]
    if args.quick:
        args.openers, args.conversations = 10, 4
    warn_if_busy()
    result = asyncio.run(measure(args))
    rows = []
    for persona, s in [*result["per_persona"].items(), ("all", result["overall"])]:
        lang = "" if s["language_ok_pct"] is None else round(s["language_ok_pct"], 1)
        rows.append([persona, s["replies"], round(s["degenerate_pct"], 1),
                     round(s["cut_pct"], 1), s["median_chars"], lang])  # fmt: skip
    print_table(["persona", "replies", "degenerate_%", "cut_%", "median_chars", "spanish_%"], rows)
    overall = result["overall"]
    print(f"degenerate_pct ≤ 1: {verdict(overall['degenerate_pct'] <= 1.0)}; "
          f"cut_pct ≤ 2: {verdict(overall['cut_pct'] <= 2.0)}")  # fmt: skip
    for example in result["bad_examples"][:5]:
        print(f"  {example['persona']}: {example['message']!r} -> {example['reply'][:160]!r}")
    write_json(args.json, result)


if __name__ == "__main__":
    main()
