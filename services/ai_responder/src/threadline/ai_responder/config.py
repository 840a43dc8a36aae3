"""Settings of the AI responder, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from threadline.messaging.topology import StreamLimits, stream_limits_from_env
from threadline.servicekit.config import ConfigError, env_float, env_int, env_str

MIN_CONTEXT_TOKENS = 100


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
    # Where the conversation's history is read (the session's gRPC `EventLog`) and the bearer
    # token with the `read` role it is read with; without a token the assistant sees only the
    # message it answers. The turns and memory it sees stay within `max_context_tokens`
    # (estimated as characters / 4: application/model_request.py).
    session_grpc_address: str = "127.0.0.1:50051"
    session_token: str = ""
    max_context_tokens: int = 4000
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
            model=_model_name(env_str(env, "THREADLINE_AI_MODEL", "offline:threadline-offline-1")),
            model_timeout_seconds=env_float(env, "THREADLINE_AI_MODEL_TIMEOUT_SECONDS", 30.0),
            model_max_retries=env_int(env, "THREADLINE_AI_MODEL_MAX_RETRIES", 2),
            system_prompt=env_str(env, "THREADLINE_AI_SYSTEM_PROMPT", ""),
            session_grpc_address=env_str(
                env, "THREADLINE_AI_SESSION_GRPC_ADDRESS", "127.0.0.1:50051"
            ),
            session_token=env_str(env, "THREADLINE_AI_SESSION_TOKEN", ""),
            max_context_tokens=_at_least(
                "THREADLINE_AI_MAX_CONTEXT_TOKENS",
                env_int(env, "THREADLINE_AI_MAX_CONTEXT_TOKENS", 4000),
                MIN_CONTEXT_TOKENS,
            ),
            streams=stream_limits_from_env(env),
        )


def _at_least(name: str, value: int, least: int) -> int:
    if value < least:
        raise ConfigError(f"Config {name!r} must be at least {least}, got {value}.")
    return value


def _model_name(name: str) -> str:
    provider, _, model = name.partition(":")
    if not provider or not model:
        raise ConfigError(
            f"Config 'THREADLINE_AI_MODEL' must be provider:model (e.g. openai:gpt-4.1-mini), "
            f"got {name!r}."
        )
    return name
