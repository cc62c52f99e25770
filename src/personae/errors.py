"""The one exception hierarchy of personae.

    PersonaeError                  base; ``str(err)`` says what went wrong and how to fix it
    ├── ConfigError                a setting is wrong or a required file is missing
    ├── PersonaInvalid             a persona file or payload failed validation (lists every problem)
    │   └── PersonaUnreadable      ...before validation: not parseable as safe data (syntax, depth)
    ├── NotFound                   an addressed thing does not exist
    │   ├── PersonaNotFound
    │   └── ConversationNotFound
    ├── BadRequest                 the caller sent something malformed
    │   ├── MessageTooLarge        a message is longer than the configured limit
    │   └── TooManyMessages        a request carries more messages than the configured limit
    ├── Unauthorized               a protected action without a valid token
    └── EngineError                the model engine could not answer
        └── EngineUnavailable      transient: retry after ``retry_after`` seconds

Adapters translate these into their own shapes (HTTP status, exit code); the core raises only these.
"""

from __future__ import annotations

from dataclasses import dataclass


class PersonaeError(Exception):
    """Base class: every error personae raises on purpose derives from it."""


class ConfigError(PersonaeError):
    """A setting or a required file is wrong; the message names it and the fix."""


@dataclass(frozen=True)
class Problem:
    """One validation problem: where (dotted field path), what was there, and how to fix it."""

    location: str
    message: str
    value: str | None = None
    hint: str | None = None

    def render(self, source: str) -> str:
        where = f"{source}: {self.location}" if self.location else source
        text = f"{where}: {self.message}"
        if self.value is not None:
            text += f" (got {self.value})"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


class PersonaInvalid(PersonaeError):
    """A persona failed validation; ``problems`` lists each one, ``source`` names the file."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        lines = [p.render(source) for p in problems]
        count = len(problems)
        header = f"{source}: {count} problem{'s' if count != 1 else ''} in persona"
        super().__init__("\n".join([header, *lines]))


class PersonaUnreadable(PersonaInvalid):
    """The document could not be read as data at all: malformed, nested too deeply, YAML aliases
    or text that is not valid Unicode (a request error, not a persona one)."""


class NotFound(PersonaeError):
    """Something addressed by id does not exist."""


class PersonaNotFound(NotFound):
    def __init__(self, slug: str) -> None:
        self.slug = slug
        super().__init__(
            f"no persona with id {slug!r}; list them with `personae persona list` or GET /v1/models"
        )


class ConversationNotFound(NotFound):
    def __init__(self, conversation_id: str) -> None:
        self.conversation_id = conversation_id
        super().__init__(
            f"no conversation with id {conversation_id!r}; list them with GET /api/conversations"
        )


class MemoryNotFound(NotFound):
    def __init__(self, memory_id: int) -> None:
        self.memory_id = memory_id
        super().__init__(
            f"no memory with id {memory_id} among this person's; list them with GET on the "
            "conversation's /memory"
        )


class BadRequest(PersonaeError):
    """The caller sent something malformed; the message says what and where."""


class Unsupported(BadRequest):
    """A request asks for something the engine or the product cannot do; ``param`` names it."""

    def __init__(self, param: str, message: str) -> None:
        self.param = param
        super().__init__(message)


class MessageTooLarge(BadRequest):
    def __init__(self, length: int, limit: int) -> None:
        self.length = length
        self.limit = limit
        super().__init__(
            f"message is {length} characters, over the limit of {limit}; "
            "send it in shorter parts or raise PERSONAE_MAX_MESSAGE_CHARS"
        )


class TooManyMessages(BadRequest):
    param = "messages"  # the request field at fault (OpenAI's ``param``)

    def __init__(self, count: int, limit: int) -> None:
        self.count = count
        self.limit = limit
        super().__init__(
            f"messages: the request carries {count} messages, over the limit of {limit}; send "
            "only the newest ones (older messages would not fit the context anyway) or raise "
            "PERSONAE_MAX_MESSAGES"
        )


class CardInvalid(BadRequest):
    """A Character Card that cannot be read: what is wrong, where, and how to fix it."""


class Unauthorized(PersonaeError):
    """A protected action was attempted without a valid token."""


class Forbidden(PersonaeError):
    """A valid token whose role or scope does not cover the action (a creator reaching past
    their personas), or a blocked person or address."""


class RateLimited(PersonaeError):
    """Over an abuse limit: nothing was stored; the same request may be sent again after
    ``retry_after`` seconds."""

    def __init__(self, what: str, retry_after: float) -> None:
        self.retry_after = retry_after
        wait = max(1, int(retry_after + 0.999))
        super().__init__(
            f"too many messages from this {what}; nothing was stored: send it again in "
            f"{wait} s (the rate is set by PERSONAE_RATE_*)"
        )


class EngineError(PersonaeError):
    """The model engine failed; the message names the engine and the cause."""


class EngineUnavailable(EngineError):
    """A transient engine failure: the caller may retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int = 5) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class ServiceUnavailable(PersonaeError):
    """The store or the work queue cannot be reached (a restart, a network cut): answered
    503 with Retry-After; nothing was accepted, so the caller sends it again."""

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RetryLater(PersonaeError):
    """A job handler's answer: run this job again after ``delay_s`` seconds. The queue keeps
    the job unfinished and its conversation's later jobs wait behind it (order is kept)."""

    def __init__(self, message: str, delay_s: float) -> None:
        self.delay_s = delay_s
        super().__init__(message)


class GuardUnavailable(PersonaeError):
    """A safety guard could not answer (its server down, a bad reply); the turn goes on with
    the other guards' verdicts and records this one as unavailable."""
