"""The embedded default guard: offline, deterministic rules plus the shipped classifier.

Layers, in order (the first that acts decides):
  1. platform floor  crisis protocol, sexual content involving minors, truthful answers to
                     "are you human?"; creators cannot turn these off
  2. harm classifier S-codes from the shipped model; injection phrasing
  3. creator         the persona's `safety:` settings (topics, romance, professional fields)
  4. audience        teen: no sexual or romantic content
Channel policy arrives as the audience the turn passes in.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from personae.guards import harms, rules
from personae.guards.classifier import Classifier, Scores, shipped
from personae.guards.crisis import crisis_reply
from personae.types import GuardInput, GuardOutput, Persona, Verdict
from personae.types.safety import Stage

NAME = "default"
BLOCK_TEXT = "This reply was withheld by the safety guard."
REDIRECTS = {
    "medical": "I'm not a doctor, so for anything about your health please check with a "
    "doctor or pharmacist.",
    "legal": "I'm not a lawyer; for your situation a qualified lawyer or legal aid service "
    "is the right place to ask.",
    "financial": "I'm not a financial adviser; for decisions about your money please talk "
    "to a licensed adviser.",
    "mental_health": "I'm not a therapist; a mental-health professional can really help with this.",
}
# Output text is judged more leniently than requests: a reply is blocked only when the
# classifier is this sure.
OUTPUT_HARM = 0.9
# A reply this harmful is withheld whatever frame its request had. Fixed a priori.
OUTPUT_CERTAIN = 0.99
# The classifier judges messages of at least this many words: on greetings and one-word
# replies ("hola", "danke schön") it has too little to go on and mostly echoes its bias.
MIN_CLASSIFIED_WORDS = 3
NO_SCORES = Scores({"benign": 1.0})
# A request this likely harmful (yet allowed) gets its reply judged by the classifier too.
RISKY_REQUEST = 0.2
# A request allowed though it scored at least this share of its hazard's threshold is
# borderline: the guard was unsure, so a reply that complies is held to the bar requests
# face (the hazard's own threshold), not OUTPUT_HARM. Fixed a priori, not tuned on any set.
BORDERLINE = 0.5
# What a reply withheld that way says instead: not a flat refusal, since the request was
# probably harmless, but an offer to help with the harmless reading.
UNSURE_TEXT = (
    "I'd rather not go into that part. If you meant something harmless (a game, a story, "
    "a recipe, a computer, a figure of speech), tell me a little more and I'll gladly help."
)
# The shortest stretch of hidden instructions a reply may not repeat.
LEAK_CHARS = 60
# A harmless frame (a game, a story, a computer, a history question: guards/harms.py) halves
# the classifier's harm score: such a request needs twice the evidence. Fixed a priori.
FRAME_DISCOUNT = 0.5
# Hazards no frame lowers: a bomb recipe in a story is still a bomb recipe (weapons of mass
# harm, sex crimes, children, self-harm).
UNFRAMED = frozenset({"S3", "S4", "S9", "S11"})


def disclosure_text(persona: Persona) -> str:
    return persona.safety.disclosure.replace("{name}", persona.name)


class EmbeddedGuard:
    name = NAME

    def __init__(
        self,
        resources: Mapping[str, str],
        classifier: Classifier | None = None,
    ) -> None:
        self._resources = resources
        self._classifier = classifier or shipped()

    async def aclose(self) -> None:
        return None

    def _verdict(self, stage: Stage, start: float, **fields: object) -> Verdict:
        latency = (time.perf_counter() - start) * 1000.0
        if stage == "input" and fields.get("allowed") is False:
            fields["harm_share"] = 1.0  # stopped: all the evidence that counted pointed to harm
        return Verdict(guard=NAME, stage=stage, latency_ms=latency, **fields)  # type: ignore[arg-type]

    def _harm(self, text: str, scores: Scores) -> float:
        """The classifier's harm score, halved inside a harmless frame (not for UNFRAMED)."""
        if scores.top_hazard() in UNFRAMED or not harms.harmless_frame(text):
            return scores.harm
        return scores.harm * FRAME_DISCOUNT

    async def check_input(self, check: GuardInput) -> Verdict:
        start = time.perf_counter()
        persona, text, safety = check.persona, check.text, check.persona.safety
        refusal = safety.refusal
        # 1. platform floor
        if rules.is_crisis(text):
            reply = crisis_reply(check.audience.locale, self._resources)
            return self._verdict(
                "input", start, allowed=False, action="crisis_response",
                categories=("S11", "P2"), reason="self-harm intent", text=reply,
            )  # fmt: skip
        if rules.minor_sexual(text):
            return self._verdict(
                "input", start, allowed=False, action="block", categories=("S4", "P3"),
                reason="sexual content involving minors", text=BLOCK_TEXT,
            )  # fmt: skip
        found = harms.hazard(text)
        if found is not None:  # a request for harm in everyday words (guards/harms.py)
            return self._verdict(
                "input", start, allowed=False, action="refuse_in_character",
                categories=(found.code,), reason=found.reason, text=refusal,
            )  # fmt: skip
        judged = len(text.split()) >= MIN_CLASSIFIED_WORDS
        # One sentence embedding: CPU work kept off the event loop.
        scores = await asyncio.to_thread(self._classifier.scores, text) if judged else NO_SCORES
        harm = self._harm(text, scores) if judged else 0.0
        pairs = (("harm", round(harm, 4)), ("injection", round(scores.injection, 4)))
        thresholds = self._classifier.thresholds
        hazard = scores.top_hazard() or "S2"
        share = round(min(1.0, harm / self._classifier.threshold(hazard)), 4)
        # 2. harm (per-category thresholds) and injection
        if judged and harm >= self._classifier.threshold(hazard):
            if hazard == "S11":  # asking how to self-harm is a crisis, not a refusal
                reply = crisis_reply(check.audience.locale, self._resources)
                return self._verdict(
                    "input", start, allowed=False, action="crisis_response",
                    categories=("S11", "P2"), scores=pairs, reason="self-harm request",
                    text=reply,
                )  # fmt: skip
            return self._verdict(
                "input", start, allowed=False, action="refuse_in_character",
                categories=(hazard,), scores=pairs, reason="harmful request", text=refusal,
            )  # fmt: skip
        injected = (
            judged
            and scores.injection >= thresholds.get("injection", 0.5)
            and rules.addresses_assistant(text)
        )
        if rules.injection(text) or injected:
            return self._verdict(
                "input", start, allowed=False, action="refuse_in_character",
                categories=("PI",), scores=pairs, reason="prompt injection", text=refusal,
            )  # fmt: skip
        if rules.asks_if_human(text):
            return self._verdict(
                "input", start, action="safe_completion", categories=("P1H",), scores=pairs,
                reason="asks whether the persona is human", text=disclosure_text(persona),
                harm_share=share,
            )  # fmt: skip
        # 3. creator settings
        topic = rules.mentions(text, safety.topics_refused)
        if topic is not None:
            return self._verdict(
                "input", start, allowed=False, action="refuse_in_character", categories=("CT",),
                scores=pairs, reason=f"topic refused by the creator: {topic}", text=refusal,
            )  # fmt: skip
        off_topic = safety.topics_allowed and len(text.split()) > 6
        if off_topic and rules.mentions(text, safety.topics_allowed) is None:
            return self._verdict(
                "input", start, allowed=False, action="refuse_in_character",
                categories=("CT",), scores=pairs, reason="outside the persona's topics",
                text=refusal,
            )  # fmt: skip
        teen = check.audience.audience == "teen"
        if (teen or not safety.romance) and rules.romantic(text):
            return self._verdict(
                "input", start, allowed=False, action="refuse_in_character",
                categories=("P3",) if teen else ("CT",), scores=pairs,
                reason="romance is off" if not teen else "teen audience", text=refusal,
            )  # fmt: skip
        # 4. audience
        if teen and rules.sexual(text):
            return self._verdict(
                "input", start, allowed=False, action="refuse_in_character",
                categories=("S12", "P3"), scores=pairs, reason="teen audience", text=refusal,
            )  # fmt: skip
        fields = tuple(r.topic for r in safety.professional)
        field = rules.professional_topic(text, fields)
        if field is not None:
            chosen = next(r for r in safety.professional if r.topic == field)
            return self._verdict(
                "input", start, action="safe_completion", categories=("S6", "P5"),
                scores=pairs, reason=f"{field} advice", text=chosen.redirect or REDIRECTS[field],
                harm_share=share,
            )  # fmt: skip
        return self._verdict("input", start, scores=pairs, harm_share=share)

    async def _request_bar(self, check: GuardOutput) -> float | None:
        """The harm score the reply may not reach, or None when its request looked plainly
        benign (then the rules alone judge the reply: the classifier would cost a second
        sentence embedding on every turn). The request's score is cached from the input
        check. A borderline request's reply meets the request's own threshold."""
        if len(check.prompt.split()) < MIN_CLASSIFIED_WORDS:
            return None
        scores = await asyncio.to_thread(self._classifier.scores, check.prompt)
        harm = self._harm(check.prompt, scores)
        if harm < RISKY_REQUEST:
            return None
        if harms.harmless_frame(check.prompt):
            # A framed request is not borderline. Its frame let a request this alarming through
            # ("how do I beat my wife in checkers?"), so a reply no more alarming than the
            # request it answers stays within what the frame covered; one the classifier is
            # all but sure of is withheld whatever the frame.
            return min(max(OUTPUT_HARM, scores.harm), OUTPUT_CERTAIN)
        line = self._classifier.threshold(scores.top_hazard() or "S2")
        return min(line, OUTPUT_HARM) if harm >= BORDERLINE * line else OUTPUT_HARM

    async def check_output(self, check: GuardOutput) -> Verdict:
        start = time.perf_counter()
        reply = check.reply
        if rules.claims_human(reply):
            return self._verdict(
                "output", start, action="rewrite", categories=("P1H",),
                reason="the reply claims to be human", text=disclosure_text(check.persona),
            )  # fmt: skip
        if check.hidden and rules.leaked_span(reply, check.hidden, LEAK_CHARS):
            return self._verdict(
                "output", start, allowed=False, action="block", categories=("PL",),
                reason="the reply repeats the persona's hidden instructions", text=BLOCK_TEXT,
            )  # fmt: skip
        if rules.minor_sexual(reply, naming_crimes=True):
            return self._verdict(
                "output", start, allowed=False, action="block", categories=("S4", "P3"),
                reason="sexual content involving minors", text=BLOCK_TEXT,
            )  # fmt: skip
        teen = check.audience.audience == "teen"
        if teen and (rules.sexual(reply) or rules.romantic(reply)):
            return self._verdict(
                "output", start, allowed=False, action="block", categories=("S12", "P3"),
                reason="teen audience", text=BLOCK_TEXT,
            )  # fmt: skip
        bar = None
        if check.final and len(reply.split()) >= MIN_CLASSIFIED_WORDS:
            bar = await self._request_bar(check)
        if bar is not None:
            scores = await asyncio.to_thread(self._classifier.scores, reply)
            pairs = (("harm", round(scores.harm, 4)),)
            if scores.harm >= bar:
                hazard = scores.top_hazard() or "S2"
                unsure = bar < OUTPUT_HARM
                return self._verdict(
                    "output", start, allowed=False, action="block", categories=(hazard,),
                    scores=pairs, reason="harmful reply to a borderline request" if unsure
                    else "harmful reply", text=UNSURE_TEXT if unsure else BLOCK_TEXT,
                )  # fmt: skip
            return self._verdict("output", start, scores=pairs)
        return self._verdict("output", start)
