"""The analytics service's settings, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from threadline.analytics.domain.write.rates import EXAMPLE_RATES, Rates
from threadline.messaging.topology import (
    StreamLimits,
    partitions_from_env,
    stream_limits_from_env,
)
from threadline.servicekit.auth import TokenRegistry
from threadline.servicekit.config import ConfigError, env_int, env_str


@dataclass(frozen=True, slots=True)
class AnalyticsConfig:
    nats_url: str
    nats_namespace: str
    database_url: str
    tokens: TokenRegistry
    host: str = "127.0.0.1"
    grpc_port: int = 50052
    ops_port: int = 9105
    batch_size: int = 500
    rates: Rates = (
        EXAMPLE_RATES  # what tokens and WhatsApp messages cost (see domain/write/rates.py)
    )
    # Limits of the streams this service brings up to date (None: the topology's table).
    streams: Mapping[str, StreamLimits] | None = None
    # How many partitions the session's events are relayed in (the same for every service):
    # the projection keeps its position in each (`THREADLINE_SESSION_PARTITIONS`).
    session_partitions: int = 1

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AnalyticsConfig:
        return cls(
            nats_url=env_str(env, "THREADLINE_NATS_URL", "nats://127.0.0.1:4222"),
            nats_namespace=env.get("THREADLINE_NATS_NAMESPACE", ""),
            database_url=env_str(env, "THREADLINE_DATABASE_URL"),
            tokens=_tokens(env_str(env, "THREADLINE_API_TOKENS")),
            host=env_str(env, "THREADLINE_ANALYTICS_HOST", "127.0.0.1"),
            grpc_port=_port(env, "THREADLINE_ANALYTICS_GRPC_PORT", 50052),
            ops_port=_port(env, "THREADLINE_ANALYTICS_OPS_PORT", 9105),
            batch_size=_positive(env, "THREADLINE_ANALYTICS_BATCH_SIZE", 500),
            rates=rates_from_setting(env.get("THREADLINE_ANALYTICS_RATES", "")),
            streams=stream_limits_from_env(env),
            session_partitions=partitions_from_env(env),
        )


def _tokens(spec: str) -> TokenRegistry:
    try:
        return TokenRegistry.parse(spec)
    except ValueError as error:
        raise ConfigError(f"Config 'THREADLINE_API_TOKENS' is malformed: {error}") from None


def rates_from_setting(spec: str) -> Rates:
    """`THREADLINE_ANALYTICS_RATES`: JSON rates, or the labelled example rates when empty."""
    if not spec.strip():
        return EXAMPLE_RATES
    try:
        return Rates.parse(spec)
    except ValueError as error:
        raise ConfigError(f"Config 'THREADLINE_ANALYTICS_RATES' is malformed: {error}") from None


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    port = env_int(env, name, default)
    if not 0 <= port <= 65535:
        raise ConfigError(f"Config '{name}' must be a port between 0 and 65535, got {port}.")
    return port


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    value = env_int(env, name, default)
    if value < 1:
        raise ConfigError(f"Config '{name}' must be at least 1, got {value}.")
    return value
