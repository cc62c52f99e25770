"""A judge: any OpenAI-compatible chat-completions endpoint that scores a reply against a rubric.

The judge closes with "Therefore, the final score is N" (PersonaGym's rubric format, used for
every judged check here); ``parse_score`` reads that, or a plain "Score: N".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

from personae.errors import PersonaeError
from personae.settings import Settings

_FINAL = re.compile(r"final\s+score\s+(?:is|=|:)\s*[*\"'(\[]*\s*([1-5](?:\.\d+)?)", re.I)
_PLAIN = re.compile(r"\bscore\s*(?:is|=|:)\s*[*\"'(\[]*\s*([1-5](?:\.\d+)?)", re.I)
MAX_JUDGE_REPLY_BYTES = 256_000  # a judge's answer is a paragraph, never megabytes


class JudgeFailed(PersonaeError):
    """The judge endpoint could not be reached, refused, or answered without a score."""


def parse_score(text: str) -> float | None:
    """The last score the judge stated (1-5), or None when it stated none."""
    for pattern in (_FINAL, _PLAIN):
        found = pattern.findall(text)
        if found:
            return float(found[-1])
    return None


@dataclass
class Judge:
    base_url: str
    model: str
    api_key: str | None
    timeout_s: float
    _client: httpx.AsyncClient | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Judge | None:
        """The configured judge; None when PERSONAE_JUDGE_BASE_URL is unset."""
        if not settings.judge_base_url:
            return None
        key = settings.judge_api_key.get_secret_value() if settings.judge_api_key else None
        return cls(
            settings.judge_base_url.rstrip("/"),
            settings.judge_model,
            key,
            settings.judge_timeout_s,
        )

    @property
    def label(self) -> str:
        return f"{self.model} at {self.base_url}"

    async def complete(self, system: str, user: str) -> str:
        """The judge's answer text; raises JudgeFailed."""
        if self._client is None:
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            self._client = httpx.AsyncClient(timeout=self.timeout_s, headers=headers)
        body = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
            "temperature": 0,
        }
        url = f"{self.base_url}/chat/completions"
        try:
            response = await self._client.post(url, json=body)
        except httpx.HTTPError as err:
            raise JudgeFailed(
                f"judge {self.label} unreachable: {err or type(err).__name__}"
            ) from None
        if response.status_code != 200:
            raise JudgeFailed(
                f"judge {self.label} answered HTTP {response.status_code}: {response.text[:200]}"
            )
        if len(response.content) > MAX_JUDGE_REPLY_BYTES:
            raise JudgeFailed(f"judge {self.label} answered {len(response.content)} bytes")
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise JudgeFailed(
                f"judge {self.label} answered something that is not a chat completion: "
                f"{response.text[:200]!r}"
            ) from None
        if not isinstance(content, str):
            raise JudgeFailed(f"judge {self.label} answered no text")
        return content

    async def score(self, system: str, user: str) -> tuple[float, str]:
        """The score and the judge's reasoning; raises JudgeFailed when it gives no score."""
        text = await self.complete(system, user)
        score = parse_score(text)
        if score is None:
            raise JudgeFailed(f"judge {self.label} gave no score: {text[-200:]!r}")
        return score, text

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
