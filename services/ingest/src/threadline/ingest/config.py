"""The ingest service's settings, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from threadline.messaging.topology import StreamLimits, partitions_from_env, stream_limits_from_env
from threadline.servicekit.config import ConfigError, env_int, env_str


@dataclass(frozen=True)
class IngestConfig:
    app_secret: str
    verify_token: str
    nats_url: str = "nats://127.0.0.1:4222"
    nats_namespace: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    ops_port: int = 9101
    max_body_bytes: int = 1_048_576
    # Limits of the streams this service brings up to date (None: the topology's table).
    streams: Mapping[str, StreamLimits] | None = None

    # How many partitions the session's facts are spread over (the same for every service).
    session_partitions: int = 1

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> IngestConfig:
        config = cls(
            app_secret=env_str(env, "THREADLINE_WHATSAPP_APP_SECRET"),
            verify_token=env_str(env, "THREADLINE_WHATSAPP_VERIFY_TOKEN"),
            nats_url=env_str(env, "THREADLINE_NATS_URL", cls.nats_url),
            nats_namespace=env_str(env, "THREADLINE_NATS_NAMESPACE", cls.nats_namespace),
            session_partitions=partitions_from_env(env),
            host=env_str(env, "THREADLINE_INGEST_HOST", cls.host),
            port=env_int(env, "THREADLINE_INGEST_PORT", cls.port),
            ops_port=env_int(env, "THREADLINE_INGEST_OPS_PORT", cls.ops_port),
            max_body_bytes=env_int(env, "THREADLINE_INGEST_MAX_BODY_BYTES", cls.max_body_bytes),
            streams=stream_limits_from_env(env),
        )
        _check_port("THREADLINE_INGEST_PORT", config.port)
        _check_port("THREADLINE_INGEST_OPS_PORT", config.ops_port)
        if config.max_body_bytes <= 0:
            raise ConfigError(
                "Config 'THREADLINE_INGEST_MAX_BODY_BYTES' must be positive, "
                f"got {config.max_body_bytes}."
            )
        return config


def _check_port(name: str, port: int) -> None:
    # 0 asks the operating system for a free port (what tests use).
    if not 0 <= port <= 65535:
        raise ConfigError(f"Config '{name}' must be a port between 0 and 65535, got {port}.")
