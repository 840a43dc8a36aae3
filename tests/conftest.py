"""The whole platform in one test process: five services and the WhatsApp sandbox, on real
NATS JetStream and PostgreSQL, each test with its own namespace and database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from threadline.ai_responder.application.ports import AssistantModel
from threadline.ai_responder.application.transcription import Transcriber
from threadline.ai_responder.bootstrap import RunningAiResponder
from threadline.ai_responder.bootstrap import bootstrap as start_ai_responder
from threadline.ai_responder.config import AiResponderConfig
from threadline.analytics.bootstrap import bootstrap as start_analytics
from threadline.analytics.config import AnalyticsConfig
from threadline.contracts.analytics.v1 import analytics_pb2_grpc
from threadline.gateway.bootstrap import bootstrap as start_gateway
from threadline.gateway.config import GatewayConfig
from threadline.ingest.bootstrap import bootstrap as start_ingest
from threadline.ingest.config import IngestConfig
from threadline.outbound.bootstrap import bootstrap as start_outbound
from threadline.outbound.config import OutboundConfig
from threadline.sandbox.config import SandboxConfig
from threadline.sandbox.server import Sandbox
from threadline.servicekit.auth import hash_token
from threadline.session.bootstrap import bootstrap as start_session
from threadline.session.config import SessionConfig
from threadline.testing import unique_id
from threadline.testing.model_servers import OpenAIServer

PHONE_NUMBER_ID = "109000000000077"


@dataclass
class Platform:
    webhook_url: str
    app_secret: str
    api_token: str
    sandbox: Sandbox
    analytics: analytics_pb2_grpc.ConversationQueriesAsyncStub
    session_grpc_port: int
    ai_responder: RunningAiResponder
    media_root: Path
    analytics_grpc_port: int = 0
    gateway_port: int = 0  # the REST API, the console and the outgoing webhooks' delivery

    @property
    def auth(self) -> tuple[tuple[str, str]]:
        return (("authorization", f"Bearer {self.api_token}"),)


@pytest.fixture(scope="session")
def spans() -> Iterator[InMemorySpanExporter]:
    """Every finished span of the test process (one provider: set once per process; one that
    an earlier test installed, e.g. through the CLI's `ensure_tracing`, is added to)."""
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)
    installed = trace.get_tracer_provider()
    provider = installed if isinstance(installed, TracerProvider) else TracerProvider()
    provider.add_span_processor(processor)
    if provider is not installed:
        trace.set_tracer_provider(provider)
    yield exporter
    processor.shutdown()


@pytest.fixture
async def model_server() -> AsyncIterator[OpenAIServer]:
    """A local server speaking OpenAI's protocol, for a test module whose assistant talks to
    it (see tests/openai_assistant.py)."""
    async with OpenAIServer() as server:
        yield server


@pytest.fixture
def assistant_model() -> AssistantModel | None:
    """The AI responder's model; None: the one its config names (offline). A test module
    overrides this fixture to point the platform at a local model server."""
    return None


@pytest.fixture
def transcriber() -> Transcriber | None:
    """The AI responder's transcriber of voice notes; None: the one its config names (offline,
    which hears nothing). A test module overrides this fixture to use a local server."""
    return None


@pytest.fixture
def sandbox_limits() -> dict[str, Any]:
    """SandboxConfig fields a test module overrides, e.g. WhatsApp's throughput limits
    (`throughput_per_second`, `pair_limit`, `pair_window_s`); none by default."""
    return {}


@pytest.fixture
def platform_env() -> dict[str, str]:
    """Settings a test module adds to every service's environment (e.g. the session's
    partitions); none by default."""
    return {}


@pytest.fixture
async def platform(
    platform_env: dict[str, str],
    nats_server_url: str,
    database_url: str,
    nats_namespace: str,
    spans: InMemorySpanExporter,
    assistant_model: AssistantModel | None,
    transcriber: Transcriber | None,
    sandbox_limits: dict[str, Any],
    tmp_path: Path,
) -> AsyncIterator[Platform]:
    api_token = unique_id("token-")
    env = {
        # Customers' media kept by outbound (issue 11), in the test's own folder.
        "THREADLINE_MEDIA_ROOT": str(tmp_path / "media"),
        "THREADLINE_NATS_URL": nats_server_url,
        "THREADLINE_NATS_NAMESPACE": nats_namespace,
        "THREADLINE_DATABASE_URL": database_url,
        "THREADLINE_API_TOKENS": f"{hash_token(api_token)}:read,write,admin:*",
        "THREADLINE_WHATSAPP_APP_SECRET": unique_id("secret-"),
        "THREADLINE_WHATSAPP_VERIFY_TOKEN": unique_id("verify-"),
        "THREADLINE_WHATSAPP_ACCESS_TOKEN": unique_id("access-"),
        "THREADLINE_INGEST_PORT": "0",
        "THREADLINE_SESSION_GRPC_PORT": "0",
        "THREADLINE_ANALYTICS_GRPC_PORT": "0",
        "THREADLINE_GATEWAY_PORT": "0",
        # Any free port: gRPC binds with SO_REUSEPORT, so two platforms on the default 50053
        # would share it and answer each other's calls.
        "THREADLINE_AI_GRPC_PORT": "0",
        # Short: most tests send a message and wait for its reply (tests of bursts set more).
        "THREADLINE_AI_REPLY_DELAY_SECONDS": "0.05",
        # Short, but long enough to be seen between an operator's attachments and the text.
        "THREADLINE_OUTBOUND_REPLY_PAUSE_SECONDS": "0.3",
        # The businesses' systems the assistants' HTTP tools call run on this machine.
        "THREADLINE_AI_TOOLS_ALLOW_PRIVATE_ADDRESSES": "true",
        **{
            f"THREADLINE_{name}_OPS_PORT": "0"
            for name in ("INGEST", "SESSION", "AI", "OUTBOUND", "ANALYTICS")
        },
        **platform_env,
    }
    async with AsyncExitStack() as stack:
        ingest = await start_ingest(IngestConfig.from_env(env), stack)
        webhook_url = f"http://127.0.0.1:{ingest.port}/webhooks/whatsapp"
        sandbox = Sandbox(
            SandboxConfig(
                app_secret=env["THREADLINE_WHATSAPP_APP_SECRET"],
                access_token=env["THREADLINE_WHATSAPP_ACCESS_TOKEN"],
                port=0,
                webhook_url=webhook_url,
                status_delay_ms=20,
                **sandbox_limits,
            )
        )
        await sandbox.start()
        stack.push_async_callback(sandbox.stop)
        env["THREADLINE_GRAPH_API_BASE_URL"] = sandbox.url
        session = await start_session(SessionConfig.from_env(env), stack)
        ai_responder = await start_ai_responder(
            AiResponderConfig.from_env(env), stack, model=assistant_model, transcriber=transcriber
        )
        await start_outbound(OutboundConfig.from_env(env), stack)
        analytics = await start_analytics(AnalyticsConfig.from_env(env), stack)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{analytics.grpc_port}")
        stack.push_async_callback(channel.close)
        gateway = await start_gateway(
            GatewayConfig.from_env(
                env
                | {
                    "THREADLINE_GATEWAY_OPS_PORT": "0",
                    "THREADLINE_SESSION_GRPC_ADDRESS": f"127.0.0.1:{session.grpc_port}",
                    "THREADLINE_ANALYTICS_GRPC_ADDRESS": f"127.0.0.1:{analytics.grpc_port}",
                }
            ),
            stack,
        )
        yield Platform(
            webhook_url=webhook_url,
            app_secret=env["THREADLINE_WHATSAPP_APP_SECRET"],
            api_token=api_token,
            sandbox=sandbox,
            analytics=analytics_pb2_grpc.ConversationQueriesStub(channel),
            session_grpc_port=session.grpc_port,
            ai_responder=ai_responder,
            media_root=tmp_path / "media",
            analytics_grpc_port=analytics.grpc_port,
            gateway_port=gateway.port,
        )
