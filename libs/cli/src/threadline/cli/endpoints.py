"""Where the operator commands find the platform.

Each setting comes from its environment variable when set, else from the `.threadline/dev.json`
of a running `threadline up`; a setting found in neither is an error naming the variable. Each
command resolves only what it uses: `events show` the session's gRPC and a token, `events tail`
and `dlq` NATS, `conversations` and `export` the analytics gRPC, `replay` all of `Endpoints`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Self

from threadline.analytics.config import rates_from_setting
from threadline.analytics.domain.write.rates import EXAMPLE_RATES, Rates
from threadline.cli.devstate import STATE_FILE, DevState
from threadline.servicekit.config import ConfigError


@dataclass(frozen=True, slots=True)
class Endpoints:
    database_url: str
    session_address: str  # the session's gRPC (EventLog)
    token: str  # a bearer token with the `read` role on every number
    nats_url: str
    nats_namespace: str = ""
    rates: Rates = EXAMPLE_RATES  # must be the analytics service's, so replays price alike

    @classmethod
    def resolve(cls, env: Mapping[str, str], state_file: Path = STATE_FILE) -> Endpoints:
        state = _load(state_file)

        def setting(name: str, from_state: str | None) -> str:
            return _setting(env, name, from_state, state_file)

        return cls(
            database_url=setting("THREADLINE_DATABASE_URL", state.database_url if state else None),
            session_address=setting(
                "THREADLINE_SESSION_GRPC_ADDRESS",
                f"127.0.0.1:{state.ports.session_grpc}" if state else None,
            ),
            token=setting("THREADLINE_API_TOKEN", state.secrets.api_token if state else None),
            nats_url=setting("THREADLINE_NATS_URL", state.nats_url if state else None),
            nats_namespace=env.get("THREADLINE_NATS_NAMESPACE", ""),
            rates=rates_from_setting(env.get("THREADLINE_ANALYTICS_RATES", "")),
        )

    @property
    def session(self) -> SessionEndpoint:
        return SessionEndpoint(self.session_address, self.token)

    @property
    def nats(self) -> NatsEndpoint:
        return NatsEndpoint(self.nats_url, self.nats_namespace)


@dataclass(frozen=True, slots=True)
class NatsEndpoint:
    """What `events tail`, `dlq` and `status` need of NATS: its URL and the streams' namespace."""

    url: str
    namespace: str = ""

    @classmethod
    def resolve(cls, env: Mapping[str, str], state_file: Path = STATE_FILE) -> NatsEndpoint:
        state = _load(state_file)
        url = _setting(env, "THREADLINE_NATS_URL", state.nats_url if state else None, state_file)
        return cls(url, env.get("THREADLINE_NATS_NAMESPACE", ""))


@dataclass(frozen=True, slots=True)
class GrpcEndpoint:
    """A service's gRPC address (its `VARIABLE`, else dev.json's port) and a bearer token."""

    address: str
    token: str
    VARIABLE: ClassVar[str]

    @staticmethod
    def port_in(state: DevState) -> int:
        raise NotImplementedError

    @classmethod
    def resolve(cls, env: Mapping[str, str], state_file: Path = STATE_FILE) -> Self:
        state = _load(state_file)
        return cls(
            address=_setting(
                env,
                cls.VARIABLE,
                f"127.0.0.1:{cls.port_in(state)}" if state else None,
                state_file,
            ),
            token=_setting(
                env, "THREADLINE_API_TOKEN", state.secrets.api_token if state else None, state_file
            ),
        )


@dataclass(frozen=True, slots=True)
class AnalyticsEndpoint(GrpcEndpoint):
    """What `conversations` and `export` need: the analytics service's gRPC and a token with
    the `read` role."""

    VARIABLE: ClassVar[str] = "THREADLINE_ANALYTICS_GRPC_ADDRESS"

    @staticmethod
    def port_in(state: DevState) -> int:
        return state.ports.analytics_grpc


@dataclass(frozen=True, slots=True)
class SessionEndpoint(GrpcEndpoint):
    """What the session's commands (`assistants`, `flows`, `send`, `templates`, …) need: its
    gRPC and a token (with the `admin` role on the numbers touched, to configure)."""

    VARIABLE: ClassVar[str] = "THREADLINE_SESSION_GRPC_ADDRESS"

    @staticmethod
    def port_in(state: DevState) -> int:
        return state.ports.session_grpc


@dataclass(frozen=True, slots=True)
class KnowledgeEndpoint(GrpcEndpoint):
    """What `threadline kb` needs: the AI responder's KnowledgeBases gRPC and a token
    (`write` to add documents, `read` to list and search)."""

    VARIABLE: ClassVar[str] = "THREADLINE_AI_GRPC_ADDRESS"

    @staticmethod
    def port_in(state: DevState) -> int:
        return state.ports.knowledge_grpc


def _setting(env: Mapping[str, str], name: str, from_state: str | None, state_file: Path) -> str:
    value = env.get(name) or from_state
    if not value:
        raise ConfigError(
            f"Config '{name}' is missing: set it, or start the platform with"
            f" `threadline up` (which writes {state_file})."
        )
    return value


def _load(state_file: Path) -> DevState | None:
    try:
        return DevState.load(state_file)
    except (FileNotFoundError, KeyError, ValueError, TypeError):
        return None
