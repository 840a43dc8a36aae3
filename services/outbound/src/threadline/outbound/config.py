"""The outbound service's settings, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from threadline.messaging.topology import StreamLimits, partitions_from_env, stream_limits_from_env
from threadline.outbound.domain.pacing import PacingSettings
from threadline.servicekit.config import ConfigError, env_float, env_int, env_str

# Meta's default throughput per business number is 80 messages/s; it can be raised to 1,000.
MAX_NUMBER_RATE = 1000
# WhatsApp's largest media file is a 100 MB document: nothing a customer sends is larger.
DEFAULT_MEDIA_MAX_BYTES = 100 * 1024 * 1024
DEFAULT_MEDIA_ROOT = Path(".threadline/media")
DEFAULT_REPLY_PAUSE = 1.0  # seconds between the messages of one reply


@dataclass(frozen=True, slots=True)
class OutboundConfig:
    nats_url: str
    nats_namespace: str
    graph_api_base_url: str
    graph_api_version: str
    access_token: str = field(repr=False)
    ops_port: int
    concurrency: int
    host: str = "127.0.0.1"
    pacing: PacingSettings = field(default_factory=PacingSettings)
    # Limits of the streams this service brings up to date (None: the topology's table).
    streams: Mapping[str, StreamLimits] | None = None
    # Customers' media: the largest file kept (a larger one is refused with its reason), and
    # where the store is (`threadline.media.media_store_from_env` reads the `THREADLINE_MEDIA_*`
    # variables of `media_env`; the filesystem store defaults to `media_root`).
    media_max_bytes: int = DEFAULT_MEDIA_MAX_BYTES
    media_root: Path = DEFAULT_MEDIA_ROOT
    media_env: Mapping[str, str] = field(default_factory=dict, repr=False)
    # The pause between the messages of one reply (an operator's attachments, then the text),
    # after the previous one was accepted.
    reply_pause: float = DEFAULT_REPLY_PAUSE
    # Customers' files fetched at once (THREADLINE_OUTBOUND_MEDIA_CONCURRENCY, 1 to 64).
    media_concurrency: int = 4

    # How many partitions the session's facts are spread over (the same for every service).
    session_partitions: int = 1

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OutboundConfig:
        base_url = env_str(env, "THREADLINE_GRAPH_API_BASE_URL", "http://127.0.0.1:8090")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"Config 'THREADLINE_GRAPH_API_BASE_URL' must be an http(s) URL, got {base_url!r}."
            )
        concurrency = env_int(env, "THREADLINE_OUTBOUND_CONCURRENCY", 32)
        if concurrency < 1:
            raise ConfigError(
                f"Config 'THREADLINE_OUTBOUND_CONCURRENCY' must be at least 1, got {concurrency}."
            )
        return cls(
            pacing=_pacing(env),
            nats_url=env_str(env, "THREADLINE_NATS_URL", "nats://127.0.0.1:4222"),
            nats_namespace=env.get("THREADLINE_NATS_NAMESPACE", ""),
            session_partitions=partitions_from_env(env),
            graph_api_base_url=base_url.rstrip("/"),
            graph_api_version=env_str(env, "THREADLINE_GRAPH_API_VERSION", "v23.0"),
            access_token=env_str(env, "THREADLINE_WHATSAPP_ACCESS_TOKEN"),
            ops_port=env_int(env, "THREADLINE_OUTBOUND_OPS_PORT", 9104),
            concurrency=concurrency,
            host=env_str(env, "THREADLINE_OUTBOUND_HOST", "127.0.0.1"),
            streams=stream_limits_from_env(env),
            media_max_bytes=_media_max_bytes(env),
            media_env={k: v for k, v in env.items() if k.startswith("THREADLINE_MEDIA_")},
            reply_pause=_reply_pause(env),
            media_concurrency=_media_concurrency(env),
        )


def _media_concurrency(env: Mapping[str, str]) -> int:
    value = env_int(env, "THREADLINE_OUTBOUND_MEDIA_CONCURRENCY", 4)
    if not 1 <= value <= 64:
        raise ConfigError(
            f"Config 'THREADLINE_OUTBOUND_MEDIA_CONCURRENCY' must be 1 to 64, got {value}."
        )
    return value


def _reply_pause(env: Mapping[str, str]) -> float:
    value = env_float(env, "THREADLINE_OUTBOUND_REPLY_PAUSE_SECONDS", DEFAULT_REPLY_PAUSE)
    if not 0 <= value <= 60:
        raise ConfigError(
            f"Config 'THREADLINE_OUTBOUND_REPLY_PAUSE_SECONDS' must be 0 to 60, got {value}."
        )
    return value


def _media_max_bytes(env: Mapping[str, str]) -> int:
    value = env_int(env, "THREADLINE_MEDIA_MAX_BYTES", DEFAULT_MEDIA_MAX_BYTES)
    if value < 1:
        raise ConfigError(f"Config 'THREADLINE_MEDIA_MAX_BYTES' must be at least 1, got {value}.")
    return value


def _pacing(env: Mapping[str, str]) -> PacingSettings:
    """The throughput budget of each business number and the pace of each recipient.

    The recipient interval defaults to 0: a conversation's messages already go one at a time
    (each waits for the previous one's answer), Meta's pair rate limit allows bursts (about 45
    messages, then one every 6 s) that a reply never reaches, and a fixed spacing would delay
    every reply with attachments; a 131056 answer spaces that recipient's sends out anyway."""
    rate = env_int(env, "THREADLINE_OUTBOUND_NUMBER_RATE", 80)
    if not 1 <= rate <= MAX_NUMBER_RATE:
        raise ConfigError(
            f"Config 'THREADLINE_OUTBOUND_NUMBER_RATE' must be 1 to {MAX_NUMBER_RATE} messages"
            f" a second (Meta's limit), got {rate}."
        )
    burst = env_int(env, "THREADLINE_OUTBOUND_NUMBER_BURST", min(10, rate))
    if not 1 <= burst <= rate:
        raise ConfigError(
            f"Config 'THREADLINE_OUTBOUND_NUMBER_BURST' must be 1 to the number rate ({rate}),"
            f" got {burst}."
        )
    interval_ms = env_int(env, "THREADLINE_OUTBOUND_RECIPIENT_INTERVAL_MS", 0)
    if not 0 <= interval_ms <= 60_000:
        raise ConfigError(
            "Config 'THREADLINE_OUTBOUND_RECIPIENT_INTERVAL_MS' must be 0 to 60000,"
            f" got {interval_ms}."
        )
    return PacingSettings(rate=rate, burst=burst, recipient_interval=interval_ms / 1000)
