"""The gRPC APIs the gateway translates to: reads from analytics, writes to the session,
knowledge bases at the AI responder.

One channel to each, opened lazily by gRPC (a service that starts after the gateway is found
when it comes); `/readyz` asks each one's `grpc.health.v1.Health` whether it serves the API the
gateway calls.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from threadline.contracts.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from threadline.contracts.knowledge.v1 import knowledge_pb2, knowledge_pb2_grpc
from threadline.contracts.session.v1 import session_pb2, session_pb2_grpc
from threadline.servicekit.ops_http import ReadinessCheck

CONVERSATION_QUERIES = analytics_pb2.DESCRIPTOR.services_by_name["ConversationQueries"].full_name
SESSION_COMMANDS = session_pb2.DESCRIPTOR.services_by_name["SessionCommands"].full_name
KNOWLEDGE_BASES = knowledge_pb2.DESCRIPTOR.services_by_name["KnowledgeBases"].full_name
# A readiness probe must answer quickly, whatever the upstream does.
CHECK_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Upstream:
    """One gRPC server behind the gateway: its name, where it is, the channel to it, and the
    API the gateway needs it to serve."""

    name: str
    address: str
    service: str
    channel: grpc.aio.Channel

    def check(self) -> ReadinessCheck:
        """Ready while the server says it serves `service`; else why not."""
        health = health_pb2_grpc.HealthStub(self.channel)

        async def check() -> str | None:
            request = health_pb2.HealthCheckRequest(service=self.service)
            try:
                reply = await health.Check(request, timeout=CHECK_SECONDS)
            except grpc.aio.AioRpcError as error:
                if error.code() is grpc.StatusCode.NOT_FOUND:  # another server, or an old one
                    return f"{self.name} at {self.address} does not serve {self.service}"
                return f"{self.name} at {self.address} is unreachable: {error.code().name}"
            if reply.status != health_pb2.HealthCheckResponse.SERVING:
                status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
                return f"{self.name} at {self.address} does not serve {self.service}: {status}"
            return None

        return check


def open_upstream(stack: AsyncExitStack, name: str, address: str, service: str) -> Upstream:
    """A channel to `address`; `stack` closes it."""
    channel = grpc.aio.insecure_channel(address)
    stack.push_async_callback(channel.close)
    return Upstream(name, address, service, channel)


@dataclass(frozen=True, slots=True)
class Upstreams:
    """The stubs the routes call: `ConversationQueries` and `Metrics` (analytics),
    `SessionCommands` (session), `KnowledgeBases` (the AI responder)."""

    queries: analytics_pb2_grpc.ConversationQueriesAsyncStub
    metrics: analytics_pb2_grpc.MetricsAsyncStub
    commands: session_pb2_grpc.SessionCommandsAsyncStub
    knowledge: knowledge_pb2_grpc.KnowledgeBasesAsyncStub

    @classmethod
    def of(cls, analytics: Upstream, session: Upstream, knowledge: Upstream) -> Upstreams:
        return cls(
            queries=analytics_pb2_grpc.ConversationQueriesStub(analytics.channel),
            metrics=analytics_pb2_grpc.MetricsStub(analytics.channel),
            commands=session_pb2_grpc.SessionCommandsStub(session.channel),
            knowledge=knowledge_pb2_grpc.KnowledgeBasesStub(knowledge.channel),
        )
