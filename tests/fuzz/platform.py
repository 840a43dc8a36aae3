"""The platform under fuzzing, and how to reach it: in this process (as tests/conftest.py builds
it) or as `threadline up` runs it (five supervised service processes). The WhatsApp sandbox
always runs in this process, so a reply reaching it is seen at once.
"""

from __future__ import annotations

import contextlib
import secrets
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from tests.fuzz.webhooks import Numbers
from threadline.ai_responder.bootstrap import bootstrap as start_ai_responder
from threadline.ai_responder.config import AiResponderConfig
from threadline.analytics.bootstrap import bootstrap as start_analytics
from threadline.analytics.config import AnalyticsConfig
from threadline.cli.devstate import DevState, Ports, Secrets
from threadline.cli.embedded import free_port
from threadline.cli.supervisor import Supervisor
from threadline.cli.up import PROCESSES, wait_until_ready
from threadline.gateway.bootstrap import bootstrap as start_gateway
from threadline.gateway.config import GatewayConfig
from threadline.ingest.bootstrap import bootstrap as start_ingest
from threadline.ingest.config import IngestConfig
from threadline.messaging.topology import Topology
from threadline.outbound.bootstrap import bootstrap as start_outbound
from threadline.outbound.config import OutboundConfig
from threadline.sandbox.config import SandboxConfig
from threadline.sandbox.server import Sandbox
from threadline.servicekit.auth import hash_token
from threadline.session.bootstrap import bootstrap as start_session
from threadline.session.config import SessionConfig
from threadline.testing import unique_id
from threadline.testing.servers import start_nats, start_postgres


@dataclass(frozen=True)
class Tokens:
    """Bearer tokens: every role on every number; read-only on the demo tenant's number; read
    and write on tenant B's number only."""

    admin: str
    reader: str
    tenant_b: str

    @classmethod
    def generate(cls) -> Tokens:
        return cls(*(secrets.token_urlsafe(18) for _ in range(3)))

    def setting(self, numbers: Numbers) -> str:
        """`THREADLINE_API_TOKENS` for these tokens."""
        return ";".join(
            [
                f"{hash_token(self.admin)}:read,write,admin:*",
                f"{hash_token(self.reader)}:read:{numbers.demo}",
                f"{hash_token(self.tenant_b)}:read,write:{numbers.tenant_b}",
            ]
        )

    def authorization(self, which: str) -> str | None:
        """The `authorization` value a case's `token` names (None: no header at all)."""
        return {
            "admin": f"Bearer {self.admin}",
            "reader": f"Bearer {self.reader}",
            "tenant_b": f"Bearer {self.tenant_b}",
            "invalid": "Bearer not-a-token-" + "x" * 20,
            "malformed": "Basic " + self.admin,
            "missing": None,
        }[which]


@dataclass(frozen=True)
class Target:
    """Where the platform listens, the secrets it shares, and the sandbox its replies reach."""

    webhook_url: str
    gateway_port: int
    session_address: str
    analytics_address: str
    app_secret: str
    tokens: Tokens
    numbers: Numbers
    sandbox: Sandbox
    nats_url: str
    namespace: str
    description: str
    media_root: Path | None = None  # the media store's directory (operators' files kept)


@contextlib.contextmanager
def fresh_servers(stack: ExitStack) -> Iterator[tuple[str, str, str]]:
    """NATS and PostgreSQL as the tests find them ($THREADLINE_TEST_*, else embedded), with a
    fresh database and namespace: the NATS URL, the database URL and the namespace."""
    import psycopg
    from psycopg import sql

    nats = start_nats(stack)
    postgres = start_postgres(stack)
    name = unique_id("fuzz_", length=12)
    with psycopg.connect(postgres.url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield nats.url, _with_database(postgres.url, name), unique_id("fz")
    finally:
        with psycopg.connect(postgres.url, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


async def drop_streams(nats_url: str, namespace: str) -> None:
    """Delete the namespace's streams: a long run leaves hundreds of megabytes in them."""
    import nats

    client = await nats.connect(nats_url, name="threadline-fuzz-cleanup")
    try:
        js = client.jetstream()
        for stream in Topology(namespace).stream_configs():
            with contextlib.suppress(Exception):
                await js.delete_stream(stream.name or "")
    finally:
        await client.close()


def _with_database(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    if "://" in url:
        return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    from psycopg.conninfo import make_conninfo

    return make_conninfo(url, dbname=name)


def _environment(
    nats_url: str, database_url: str, namespace: str, tokens: Tokens, numbers: Numbers
) -> dict[str, str]:
    return {
        "THREADLINE_NATS_URL": nats_url,
        "THREADLINE_NATS_NAMESPACE": namespace,
        "THREADLINE_DATABASE_URL": database_url,
        "THREADLINE_API_TOKENS": tokens.setting(numbers),
        "THREADLINE_WHATSAPP_APP_SECRET": secrets.token_urlsafe(24),
        "THREADLINE_WHATSAPP_VERIFY_TOKEN": secrets.token_urlsafe(24),
        "THREADLINE_WHATSAPP_ACCESS_TOKEN": secrets.token_urlsafe(24),
        # Customers' media outbound keeps (fuzzed media ids are unknown: nothing is kept).
        "THREADLINE_MEDIA_ROOT": tempfile.mkdtemp(prefix="threadline-fuzz-media-"),
    }


async def _sandbox(stack: AsyncExitStack, env: dict[str, str], webhook_url: str) -> Sandbox:
    sandbox = Sandbox(
        SandboxConfig(
            app_secret=env["THREADLINE_WHATSAPP_APP_SECRET"],
            access_token=env["THREADLINE_WHATSAPP_ACCESS_TOKEN"],
            port=0,
            webhook_url=webhook_url,
            status_delay_ms=20,
        )
    )
    await sandbox.start()
    stack.push_async_callback(sandbox.stop)
    return sandbox


@contextlib.asynccontextmanager
async def in_process(
    nats_url: str, database_url: str, namespace: str, numbers: Numbers
) -> AsyncIterator[Target]:
    """The five services in this process and event loop, as tests/conftest.py runs them."""
    tokens = Tokens.generate()
    env = _environment(nats_url, database_url, namespace, tokens, numbers)
    env |= {
        "THREADLINE_INGEST_PORT": "0",
        "THREADLINE_SESSION_GRPC_PORT": "0",
        "THREADLINE_ANALYTICS_GRPC_PORT": "0",
        "THREADLINE_GATEWAY_PORT": "0",
        **{
            f"THREADLINE_{name}_OPS_PORT": "0"
            for name in ("INGEST", "SESSION", "AI", "OUTBOUND", "ANALYTICS", "GATEWAY")
        },
    }
    async with AsyncExitStack() as stack:
        ingest = await start_ingest(IngestConfig.from_env(env), stack)
        webhook_url = f"http://127.0.0.1:{ingest.port}/webhooks/whatsapp"
        sandbox = await _sandbox(stack, env, webhook_url)
        env["THREADLINE_GRAPH_API_BASE_URL"] = sandbox.url
        session = await start_session(SessionConfig.from_env(env), stack)
        env["THREADLINE_SESSION_GRPC_ADDRESS"] = f"127.0.0.1:{session.grpc_port}"
        await start_ai_responder(AiResponderConfig.from_env(env), stack)
        await start_outbound(OutboundConfig.from_env(env), stack)
        analytics = await start_analytics(AnalyticsConfig.from_env(env), stack)
        env["THREADLINE_ANALYTICS_GRPC_ADDRESS"] = analytics.grpc_address
        gateway = await start_gateway(GatewayConfig.from_env(env), stack)
        yield Target(
            webhook_url=webhook_url,
            gateway_port=gateway.port,
            session_address=f"127.0.0.1:{session.grpc_port}",
            analytics_address=f"127.0.0.1:{analytics.grpc_port}",
            app_secret=env["THREADLINE_WHATSAPP_APP_SECRET"],
            tokens=tokens,
            numbers=numbers,
            sandbox=sandbox,
            nats_url=nats_url,
            namespace=namespace,
            description="five services in this process",
            media_root=Path(env["THREADLINE_MEDIA_ROOT"]),
        )


@contextlib.asynccontextmanager
async def processes(
    nats_url: str, database_url: str, namespace: str, numbers: Numbers, log: Path
) -> AsyncIterator[Target]:
    """The five services as `threadline up` runs them: child processes under its supervisor,
    whose prefixed output goes to `log`."""
    tokens = Tokens.generate()
    env = _environment(nats_url, database_url, namespace, tokens, numbers)
    ports = Ports(
        ingest=free_port(None),
        session_grpc=free_port(None),
        analytics_grpc=free_port(None),
        sandbox=free_port(None),
        gateway=free_port(None),
        ops={name: free_port(None) for name, _, _, _ in PROCESSES},
    )
    state = DevState(
        secrets=Secrets(
            app_secret=env["THREADLINE_WHATSAPP_APP_SECRET"],
            verify_token=env["THREADLINE_WHATSAPP_VERIFY_TOKEN"],
            access_token=env["THREADLINE_WHATSAPP_ACCESS_TOKEN"],
            api_token=tokens.admin,
        ),
        ports=ports,
        nats_url=nats_url,
        database_url=database_url,
    )
    env |= {
        "THREADLINE_INGEST_PORT": str(ports.ingest),
        "THREADLINE_SESSION_GRPC_PORT": str(ports.session_grpc),
        "THREADLINE_ANALYTICS_GRPC_PORT": str(ports.analytics_grpc),
        "THREADLINE_GATEWAY_PORT": str(ports.gateway),
        "THREADLINE_SESSION_GRPC_ADDRESS": f"127.0.0.1:{ports.session_grpc}",
        "THREADLINE_ANALYTICS_GRPC_ADDRESS": f"127.0.0.1:{ports.analytics_grpc}",
        "THREADLINE_GRAPH_API_BASE_URL": state.sandbox_url,
        "PYTHONUNBUFFERED": "1",
        **{variable: str(ports.ops[name]) for name, _, variable, _ in PROCESSES},
    }
    log.parent.mkdir(parents=True, exist_ok=True)
    async with AsyncExitStack() as stack:
        sandbox = Sandbox(
            SandboxConfig(
                app_secret=env["THREADLINE_WHATSAPP_APP_SECRET"],
                access_token=env["THREADLINE_WHATSAPP_ACCESS_TOKEN"],
                port=ports.sandbox,
                webhook_url=state.webhook_url,
                status_delay_ms=20,
            )
        )
        await sandbox.start()
        stack.push_async_callback(sandbox.stop)
        output: TextIO = stack.enter_context(log.open("w", encoding="utf-8", errors="replace"))
        # The supervisor writes its children's lines to this process's stdout.
        stack.enter_context(contextlib.redirect_stdout(output))
        supervisor = Supervisor()
        for name, module, _, _ in PROCESSES:
            supervisor.add(name, [sys.executable, "-m", module], env)
        await supervisor.start()
        stack.push_async_callback(supervisor.stop)
        await wait_until_ready(state)
        yield Target(
            webhook_url=state.webhook_url,
            gateway_port=ports.gateway,
            session_address=f"127.0.0.1:{ports.session_grpc}",
            analytics_address=f"127.0.0.1:{ports.analytics_grpc}",
            app_secret=env["THREADLINE_WHATSAPP_APP_SECRET"],
            tokens=tokens,
            numbers=numbers,
            sandbox=sandbox,
            nats_url=nats_url,
            namespace=namespace,
            description=f"five supervised service processes (their output in {log})",
            media_root=Path(env["THREADLINE_MEDIA_ROOT"]),
        )
