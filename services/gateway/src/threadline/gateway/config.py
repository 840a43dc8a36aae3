"""The gateway's settings, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from threadline.gateway.webhooks.delivery import WebhookDeliverySettings
from threadline.messaging.topology import narrow_from_env, partitions_from_env
from threadline.servicekit.config import ConfigError, env_int, env_str

DEFAULT_MEDIA_ROOT = Path(".threadline/media")  # as outbound's default


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    host: str = "127.0.0.1"
    port: int = 8081  # the REST API
    ops_port: int = 9106
    analytics_grpc_address: str = "127.0.0.1:50052"  # ConversationQueries
    session_grpc_address: str = "127.0.0.1:50051"  # SessionCommands
    # KnowledgeBases (the AI responder's, when it has a database); the CLI's `threadline kb`
    # reads the same variable.
    knowledge_grpc_address: str = "127.0.0.1:50053"
    # Where attachments' files are served from: the media store outbound keeps them in (the
    # `THREADLINE_MEDIA_*` variables, read by `threadline.media.media_store_from_env`; the
    # filesystem store defaults to `media_root`).
    media_root: Path = DEFAULT_MEDIA_ROOT
    media_env: Mapping[str, str] = field(default_factory=dict, repr=False)
    # Origins whose pages may call the API from a browser (`cors`): comma-separated
    # `scheme://host[:port]`, or `*`; none by default (the console is served here).
    cors_origins: tuple[str, ...] = ()
    # Live updates (the console's server-sent events, `/api/v1/events`): the session's events
    # are read from NATS under this namespace; "" for no NATS, and the events route answers 503.
    nats_url: str = ""
    nats_namespace: str = ""
    narrow_consumers: bool = True  # THREADLINE_NATS_NARROW_CONSUMERS
    # How many partitions the session's facts (and, past one, its events) are spread over.
    session_partitions: int = 1
    # Outgoing webhooks (`THREADLINE_WEBHOOK_*`; delivered only with NATS), and the environment
    # their signing secrets are read from by name.
    webhooks: WebhookDeliverySettings = field(default_factory=WebhookDeliverySettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GatewayConfig:
        return cls(
            host=env_str(env, "THREADLINE_GATEWAY_HOST", "127.0.0.1"),
            port=_port(env, "THREADLINE_GATEWAY_PORT", 8081),
            ops_port=_port(env, "THREADLINE_GATEWAY_OPS_PORT", 9106),
            analytics_grpc_address=env_str(
                env, "THREADLINE_ANALYTICS_GRPC_ADDRESS", "127.0.0.1:50052"
            ),
            session_grpc_address=env_str(env, "THREADLINE_SESSION_GRPC_ADDRESS", "127.0.0.1:50051"),
            knowledge_grpc_address=env_str(env, "THREADLINE_AI_GRPC_ADDRESS", "127.0.0.1:50053"),
            media_env={k: v for k, v in env.items() if k.startswith("THREADLINE_MEDIA_")},
            cors_origins=_origins(env, "THREADLINE_GATEWAY_CORS_ORIGINS"),
            nats_url=env_str(env, "THREADLINE_NATS_URL", ""),
            nats_namespace=env_str(env, "THREADLINE_NATS_NAMESPACE", ""),
            narrow_consumers=narrow_from_env(env),
            session_partitions=partitions_from_env(env),
            webhooks=WebhookDeliverySettings.from_env(env),
        )


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    port = env_int(env, name, default)
    if not 0 <= port <= 65535:
        raise ConfigError(f"Config '{name}' must be a port between 0 and 65535, got {port}.")
    return port


def _origins(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    origins = tuple(o.strip().rstrip("/") for o in env_str(env, name, "").split(",") if o.strip())
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise ConfigError(
                f"Config '{name}' must list origins as scheme://host[:port] or *, got {origin!r}."
            )
    return origins
