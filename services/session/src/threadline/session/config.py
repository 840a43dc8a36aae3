"""Settings of the session service, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from threadline.messaging.topology import StreamLimits, partitions_from_env, stream_limits_from_env
from threadline.servicekit.config import env_bool, env_float, env_int, env_str
from threadline.session.adapters.outbound.event_json import TRANSCODER_TOPIC
from threadline.session.adapters.outbound.event_store import FACTORY_TOPIC

DEFAULT_MEDIA_ROOT = Path(".threadline/media")


@dataclass(frozen=True, slots=True)
class SessionConfig:
    nats_url: str
    nats_namespace: str
    database_url: str
    api_tokens: str
    host: str = "127.0.0.1"
    grpc_port: int = 50051
    ops_port: int = 9102
    batch_size: int = 256
    auto_resolve_interval: float = 60.0
    cache_size: int = 20_000
    # Off: this process is the only writer of its aggregates, so the cache is the truth;
    # a failed save evicts what it touched. On: every load asks the store for newer events.
    # Several instances need the cache checked, this or `check_reads`: each records its own
    # partitions' facts, but a gRPC command (an operator's message, a hand-off) is served by
    # whichever instance it reaches, and the owner's cached conversation would not know it.
    cache_fastforward: bool = False
    # Before a unit of work is saved, the versions of everything it read are checked against
    # the store in one query, and what another instance changed meanwhile is read again (on by
    # default with several partitions; `Conversations._check_reads`).
    check_reads: bool = False
    # Limits of the streams this service brings up to date (None: the topology's table).
    streams: Mapping[str, StreamLimits] | None = None
    # Where operators' files are kept (SendFiles): `threadline.media.media_store_from_env`
    # reads the `THREADLINE_MEDIA_*` variables of `media_env`, files under `media_root` by
    # default (the store outbound reads them from to upload them).
    media_root: Path = DEFAULT_MEDIA_ROOT
    media_env: Mapping[str, str] = field(default_factory=dict, repr=False)

    # How many partitions the session's facts are spread over (the same for every service).
    session_partitions: int = 1
    # A duty's lease (a partition with its relay, the auto-resolver) not renewed for this long
    # passes to another instance: how long a crashed instance's partitions wait.
    lease_seconds: float = 6.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SessionConfig:
        partitions = partitions_from_env(env)
        return cls(
            nats_url=env_str(env, "THREADLINE_NATS_URL", "nats://127.0.0.1:4222"),
            nats_namespace=env_str(env, "THREADLINE_NATS_NAMESPACE", ""),
            session_partitions=partitions,
            lease_seconds=env_float(env, "THREADLINE_SESSION_LEASE_SECONDS", 6.0),
            database_url=env_str(env, "THREADLINE_DATABASE_URL"),
            api_tokens=env_str(env, "THREADLINE_API_TOKENS"),
            host=env_str(env, "THREADLINE_SESSION_HOST", "127.0.0.1"),
            grpc_port=env_int(env, "THREADLINE_SESSION_GRPC_PORT", 50051),
            ops_port=env_int(env, "THREADLINE_SESSION_OPS_PORT", 9102),
            batch_size=env_int(env, "THREADLINE_SESSION_BATCH_SIZE", 256),
            auto_resolve_interval=env_float(
                env, "THREADLINE_SESSION_AUTO_RESOLVE_INTERVAL_S", 60.0
            ),
            cache_size=env_int(env, "THREADLINE_SESSION_CACHE_SIZE", 20_000),
            cache_fastforward=env_bool(env, "THREADLINE_SESSION_CACHE_FASTFORWARD", False),
            # Several partitions mean several instances: on, unless said otherwise.
            check_reads=env_bool(env, "THREADLINE_SESSION_CHECK_READS", partitions > 1),
            streams=stream_limits_from_env(env),
            media_env={k: v for k, v in env.items() if k.startswith("THREADLINE_MEDIA_")},
        )

    def event_store_env(self) -> dict[str, str]:
        """The `eventsourcing` settings for the PostgreSQL event store."""
        params = conninfo_to_dict(self.database_url)
        return {
            "PERSISTENCE_MODULE": FACTORY_TOPIC,
            "POSTGRES_DBNAME": str(params.get("dbname", "threadline")),
            "POSTGRES_HOST": str(params.get("host", "127.0.0.1")),
            "POSTGRES_PORT": str(params.get("port", "5432")),
            "POSTGRES_USER": str(params.get("user", "postgres")),
            "POSTGRES_PASSWORD": str(params.get("password", "")),
            "POSTGRES_POOL_SIZE": "4",
            "AGGREGATE_CACHE_MAXSIZE": str(self.cache_size),
            "AGGREGATE_CACHE_FASTFORWARD": "y" if self.cache_fastforward else "n",
            "CREATE_TABLE": "y",
            "TRANSCODER_TOPIC": TRANSCODER_TOPIC,
        }
