"""The endpoints file: which models are served where (PERSONAE_ENDPOINTS, `--endpoints`).

    models:
      - name: llama-3.1-8b            # what a persona's model.name says
        context_window: 8192
        template: chatml              # or strict (Gemma, Mistral: user/assistant alternation)
        endpoints:
          - base_url: http://10.0.0.5:8000/v1
            concurrency: 32           # requests in flight at once on this endpoint
            key: env:VLLM_KEY         # optional; the secret stays in the environment
            weight: 2                 # optional; share of the personas this endpoint takes

Validation collects every problem at once, each with the file, the path inside it
(``models[1].endpoints[0].base_url``) and the fix. The environment is passed in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from personae.errors import ConfigError, Problem

_ENV = "env:"
_HINTS = {
    "base_url": "the server's OpenAI API root, e.g. http://10.0.0.5:8000/v1",
    "concurrency": "a whole number of requests in flight at once, at least 1",
    "context_window": "the served model's context window in tokens, at least 256",
    "template": "chatml, or strict for templates that demand user/assistant alternation",
    "weight": "a positive number; endpoints with more weight take more personas",
    "key": "write `key: env:NAME` and export NAME with the key",
    "name": "the model name personas give as model.name",
    "endpoints": "list one or more `- base_url: ...` entries",
}


class EndpointsInvalid(ConfigError):
    """The endpoints file has mistakes; each problem says where and how to fix it."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        count = len(problems)
        header = f"{source}: {count} problem{'s' if count != 1 else ''} in the endpoints file"
        super().__init__("\n".join([header, *(p.render(source) for p in problems)]))


class EndpointSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(min_length=1, max_length=2048)
    concurrency: int = Field(8, ge=1, le=100_000)
    key: str | None = Field(None, max_length=4096)
    weight: float = Field(1.0, gt=0, le=1_000_000)
    context_window: int | None = Field(None, ge=256)
    template: Literal["chatml", "strict"] | None = None

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or len(value.split("://", 1)[1]) < 1:
            raise ValueError("not an http(s) URL")
        return value.rstrip("/")

    @field_validator("key")
    @classmethod
    def _env_only(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(_ENV):
            raise ValueError("a key written into the file; keep secrets in the environment")
        return value


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=256)
    context_window: int = Field(ge=256, le=10_000_000)
    template: Literal["chatml", "strict"] = "chatml"
    endpoints: tuple[EndpointSpec, ...] = Field(min_length=1, max_length=256)


class EndpointsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    models: tuple[ModelSpec, ...] = Field(min_length=1)


class Endpoint(BaseModel):
    """One endpoint of one model, resolved: its key read from the environment."""

    model_config = ConfigDict(frozen=True)

    model: str
    base_url: str
    concurrency: int
    weight: float
    context_window: int
    template: str
    api_key: str | None = None


class ModelEndpoints(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    context_window: int
    template: str
    endpoints: tuple[Endpoint, ...]


def load_endpoints(path: Path, environ: Mapping[str, str]) -> dict[str, ModelEndpoints]:
    """Read and validate an endpoints file: models by name, in file order. Raises
    EndpointsInvalid listing every problem."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        hint = "check PERSONAE_ENDPOINTS (or --endpoints): it must name a readable YAML file"
        problem = Problem("", f"cannot read it: {reason}", None, hint)
        raise EndpointsInvalid(source, [problem]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        hint = "check the indentation (spaces, not tabs)"
        raise EndpointsInvalid(source, [Problem(where, "malformed YAML", None, hint)]) from None
    return parse_endpoints(data, source, environ)


def parse_endpoints(
    data: object, source: str, environ: Mapping[str, str]
) -> dict[str, ModelEndpoints]:
    if not isinstance(data, dict):
        hint = "the file starts with `models:` and lists `- name: ...` entries"
        raise EndpointsInvalid(source, [Problem("", "top level is not a mapping", None, hint)])
    try:
        parsed = EndpointsFile.model_validate(data)
    except ValidationError as err:
        raise EndpointsInvalid(source, [_problem(e) for e in err.errors()]) from None
    problems: list[Problem] = []
    models: dict[str, ModelEndpoints] = {}
    for i, model in enumerate(parsed.models):
        if model.name in models:
            hint = "give each model one entry and list all its endpoints there"
            problems.append(Problem(f"models[{i}].name", "a second entry", model.name, hint))
            continue
        found = []
        seen: set[str] = set()
        for j, spec in enumerate(model.endpoints):
            where = f"models[{i}].endpoints[{j}]"
            if spec.base_url in seen:
                hint = "list each endpoint once (raise its concurrency instead)"
                problems.append(Problem(f"{where}.base_url", "listed twice", spec.base_url, hint))
            seen.add(spec.base_url)
            key = _resolve_key(spec.key, f"{where}.key", environ, problems)
            found.append(
                Endpoint(
                    model=model.name,
                    base_url=spec.base_url,
                    concurrency=spec.concurrency,
                    weight=spec.weight,
                    context_window=spec.context_window or model.context_window,
                    template=spec.template or model.template,
                    api_key=key,
                )
            )
        models[model.name] = ModelEndpoints(
            name=model.name,
            context_window=model.context_window,
            template=model.template,
            endpoints=tuple(found),
        )
    if problems:
        raise EndpointsInvalid(source, problems)
    return models


def _resolve_key(
    key: str | None, where: str, environ: Mapping[str, str], problems: list[Problem]
) -> str | None:
    if key is None:
        return None
    name = key[len(_ENV) :]
    if name.upper().startswith("PERSONAE_"):
        hint = "give the endpoint's key an environment variable of its own"
        problems.append(Problem(where, f"{name} is a personae setting", None, hint))
        return None
    value = environ.get(name, "")
    if not value.strip():
        hint = f"export {name} with the endpoint's API key, or drop `key:` if it needs none"
        problems.append(Problem(where, f"environment variable {name} is not set", None, hint))
        return None
    return value


def _problem(error: Any) -> Problem:
    location = _path(error.get("loc", ()))
    last = next((str(p) for p in reversed(error.get("loc", ())) if isinstance(p, str)), "")
    message = str(error.get("msg", "invalid"))
    hint: str | None = _HINTS.get(last)
    if error.get("type") == "extra_forbidden":
        message = "unknown field"
        hint = f"known fields: {', '.join(sorted(_HINTS))}"
    value = error.get("input")
    shown = None if error.get("type") == "missing" or isinstance(value, dict) else repr(value)
    if last == "key":
        shown = None  # never echo what may be a secret
    return Problem(location, message.removeprefix("Value error, "), _short(shown), hint)


def _path(loc: Sequence[object]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _short(text: str | None) -> str | None:
    return None if text is None else (text if len(text) <= 80 else text[:77] + "...")
