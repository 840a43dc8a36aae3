"""The outbound service's settings, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from threadline.messaging.topology import StreamLimits, stream_limits_from_env
from threadline.servicekit.config import ConfigError, env_int, env_str


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
    # Limits of the streams this service brings up to date (None: the topology's table).
    streams: Mapping[str, StreamLimits] | None = None

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
            nats_url=env_str(env, "THREADLINE_NATS_URL", "nats://127.0.0.1:4222"),
            nats_namespace=env.get("THREADLINE_NATS_NAMESPACE", ""),
            graph_api_base_url=base_url.rstrip("/"),
            graph_api_version=env_str(env, "THREADLINE_GRAPH_API_VERSION", "v23.0"),
            access_token=env_str(env, "THREADLINE_WHATSAPP_ACCESS_TOKEN"),
            ops_port=env_int(env, "THREADLINE_OUTBOUND_OPS_PORT", 9104),
            concurrency=concurrency,
            host=env_str(env, "THREADLINE_OUTBOUND_HOST", "127.0.0.1"),
            streams=stream_limits_from_env(env),
        )
