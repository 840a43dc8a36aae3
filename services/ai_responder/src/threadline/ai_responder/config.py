"""Settings of the AI responder, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from threadline.messaging.topology import StreamLimits, stream_limits_from_env
from threadline.servicekit.config import env_int, env_str


@dataclass(frozen=True, slots=True)
class AiResponderConfig:
    nats_url: str
    nats_namespace: str
    host: str = "127.0.0.1"
    ops_port: int = 9103
    stale_after_seconds: int = 3600
    # Limits of the streams this service brings up to date (None: the topology's table).
    streams: Mapping[str, StreamLimits] | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AiResponderConfig:
        return cls(
            nats_url=env_str(env, "THREADLINE_NATS_URL", "nats://127.0.0.1:4222"),
            nats_namespace=env_str(env, "THREADLINE_NATS_NAMESPACE", ""),
            host=env_str(env, "THREADLINE_AI_HOST", "127.0.0.1"),
            ops_port=env_int(env, "THREADLINE_AI_OPS_PORT", 9103),
            stale_after_seconds=env_int(env, "THREADLINE_AI_STALE_AFTER_SECONDS", 3600),
            streams=stream_limits_from_env(env),
        )
