"""Adapters for model-based guards over HTTP.

``LlamaGuard``: Llama Guard 3/4 (or Prompt Guard) served by any OpenAI-compatible server
(vLLM, llama.cpp server, …): the conversation goes to ``/chat/completions``; the model answers
``safe`` or ``unsafe`` plus a line of S-codes (Prompt Guard: ``BENIGN``, ``INJECTION`` or
``JAILBREAK``/``MALICIOUS``).

``OpenAIModeration``: OpenAI's ``/moderations`` endpoint (``omni-moderation-latest``), its
categories mapped onto S-codes.

Neither says anything about AI disclosure or the creator's settings: run them beside the
default guard (PERSONAE_GUARDS=default,llamaguard), not instead of it.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from personae.errors import GuardUnavailable
from personae.types import GuardInput, GuardOutput, Verdict
from personae.types.safety import HAZARDS, Stage

# OpenAI moderation category -> S-code (reference/safety.md §1.2).
MODERATION_CODES = {
    "self-harm": "S11",
    "self-harm/intent": "S11",
    "self-harm/instructions": "S11",
    "sexual": "S12",
    "sexual/minors": "S4",
    "hate": "S10",
    "hate/threatening": "S10",
    "harassment": "S10",
    "harassment/threatening": "S10",
    "violence": "S1",
    "violence/graphic": "S1",
    "illicit": "S2",
    "illicit/violent": "S1",
}
_PROMPT_GUARD_BAD = {"INJECTION", "JAILBREAK", "MALICIOUS"}


def _action(stage: Stage, categories: tuple[str, ...], refusal: str) -> dict[str, Any]:
    """What a flagged check does: self-harm → the crisis protocol (input), minors → block,
    anything else → refuse in character (input) or block (output)."""
    if stage == "input" and "S11" in categories:
        return {"action": "crisis_response", "categories": (*categories, "P2")}
    if stage == "output" or "S4" in categories:
        return {"action": "block", "categories": categories}
    return {"action": "refuse_in_character", "categories": categories, "text": refusal}


class _HttpGuard:
    name = "remote"

    def __init__(self, client: httpx.AsyncClient, timeout_s: float) -> None:
        self._client = client
        self._timeout = timeout_s

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self._client.post(path, json=body, timeout=self._timeout)
        except httpx.HTTPError as err:
            raise GuardUnavailable(f"guard {self.name}: {type(err).__name__}: {err}") from None
        if response.status_code != 200:
            raise GuardUnavailable(
                f"guard {self.name}: HTTP {response.status_code} from {path}: {response.text[:200]}"
            )
        try:
            data = response.json()
        except ValueError:
            raise GuardUnavailable(f"guard {self.name}: {path} did not answer JSON") from None
        if not isinstance(data, dict):
            raise GuardUnavailable(f"guard {self.name}: {path} answered {type(data).__name__}")
        return data


class LlamaGuard(_HttpGuard):
    name = "llamaguard"

    def __init__(self, client: httpx.AsyncClient, model: str, timeout_s: float) -> None:
        super().__init__(client, timeout_s)
        self._model = model

    async def check_input(self, check: GuardInput) -> Verdict:
        messages = [{"role": "user", "content": check.text}]
        return await self._check("input", messages, check.persona.safety.refusal)

    async def check_output(self, check: GuardOutput) -> Verdict:
        if not check.final:  # one call per reply, not per sentence
            return Verdict(self.name, "output")
        messages = [
            {"role": "user", "content": check.prompt},
            {"role": "assistant", "content": check.reply},
        ]
        return await self._check("output", messages, check.persona.safety.refusal)

    async def _check(self, stage: Stage, messages: list[dict[str, str]], refusal: str) -> Verdict:
        start = time.perf_counter()
        body = {"model": self._model, "messages": messages, "max_tokens": 20, "temperature": 0}
        data = await self._post("/chat/completions", body)
        try:
            answer = str(data["choices"][0]["message"]["content"] or "").strip()
        except (KeyError, IndexError, TypeError):
            raise GuardUnavailable(f"guard {self.name}: no choices[0].message.content") from None
        latency = (time.perf_counter() - start) * 1000.0
        first, _, rest = answer.partition("\n")
        label = first.strip().upper()
        if label in ("SAFE", "BENIGN"):
            return Verdict(self.name, stage, latency_ms=latency, reason=answer)
        if label in _PROMPT_GUARD_BAD:
            return Verdict(
                self.name, stage, allowed=False, latency_ms=latency, reason=answer,
                **_action(stage, ("PI",), refusal),
            )  # fmt: skip
        if label != "UNSAFE":
            raise GuardUnavailable(f"guard {self.name}: unexpected answer {answer[:80]!r}")
        codes = tuple(c.strip().upper() for c in rest.replace(",", " ").split() if c.strip())
        known = tuple(c for c in codes if c in HAZARDS) or ("S2",)
        return Verdict(
            self.name, stage, allowed=False, latency_ms=latency, reason=answer,
            **_action(stage, known, refusal),
        )  # fmt: skip


class OpenAIModeration(_HttpGuard):
    name = "openai-moderation"

    def __init__(self, client: httpx.AsyncClient, model: str, timeout_s: float) -> None:
        super().__init__(client, timeout_s)
        self._model = model

    async def check_input(self, check: GuardInput) -> Verdict:
        return await self._check("input", check.text, check.persona.safety.refusal)

    async def check_output(self, check: GuardOutput) -> Verdict:
        if not check.final:
            return Verdict(self.name, "output")
        return await self._check("output", check.reply, check.persona.safety.refusal)

    async def _check(self, stage: Stage, text: str, refusal: str) -> Verdict:
        start = time.perf_counter()
        data = await self._post("/moderations", {"model": self._model, "input": text})
        try:
            result = data["results"][0]
            flags: dict[str, bool] = result["categories"]
            raw_scores: dict[str, float] = result.get("category_scores", {})
        except (KeyError, IndexError, TypeError):
            raise GuardUnavailable(f"guard {self.name}: no results[0].categories") from None
        latency = (time.perf_counter() - start) * 1000.0
        scores = tuple(sorted((k, float(v)) for k, v in raw_scores.items()))
        flagged = [k for k, v in flags.items() if v]
        if not result.get("flagged") and not flagged:
            return Verdict(self.name, stage, scores=scores, latency_ms=latency)
        codes = tuple(sorted({MODERATION_CODES.get(k, "S2") for k in flagged})) or ("S2",)
        if (
            stage == "input"
            and "S11" in codes
            and not (flags.get("self-harm/intent") or flags.get("self-harm"))
        ):
            codes = tuple(c for c in codes if c != "S11") or ("S2",)  # instructions: refuse
        return Verdict(
            self.name, stage, allowed=False, scores=scores, latency_ms=latency,
            reason=", ".join(flagged), **_action(stage, codes, refusal),
        )  # fmt: skip
