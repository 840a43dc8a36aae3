"""Every method of Threadline's gRPC services, callable with a message or with raw bytes.

What property tests and the long fuzz run send: `session_methods()`, `analytics_methods()` and
`knowledge_methods()`
list each method with its request type (from the proto descriptors, so a new method is
covered without a change here); `GrpcMethod.call` sends a request (or any bytes) and returns
the status it ended with. A service must answer every input with a status a caller can act on:
never one of `FAILURES`. The matching hypothesis strategies are in `grpc_fuzz`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message

from threadline.contracts.analytics.v1 import analytics_pb2
from threadline.contracts.knowledge.v1 import knowledge_pb2
from threadline.contracts.session.v1 import session_pb2

# Statuses that mean the service failed rather than refused: an unhandled exception (UNKNOWN,
# INTERNAL), a status message too large for the metadata limit (RESOURCE_EXHAUSTED), a method
# the server does not serve.
FAILURES = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.DATA_LOSS,
    }
)
Metadata = Sequence[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a call ended: its status code and details (OK and "" for a success)."""

    code: grpc.StatusCode
    details: str = ""


@dataclass(frozen=True, slots=True)
class GrpcMethod:
    service: str  # full name, e.g. threadline.session.v1.SessionCommands
    name: str
    request: type[Message]
    server_streaming: bool

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.name}"

    async def call(
        self,
        channel: grpc.aio.Channel,
        request: Message | bytes,
        *,
        metadata: Metadata = (),
        timeout: float = 20.0,
    ) -> Outcome:
        """Send `request` (a message, or bytes sent as they are); read every response."""
        data = request if isinstance(request, bytes) else request.SerializeToString()
        try:
            if self.server_streaming:
                stream: grpc.aio.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(
                    self.path
                )
                async for _ in stream(data, metadata=tuple(metadata), timeout=timeout):
                    pass
            else:
                unary: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
                    self.path
                )
                await unary(data, metadata=tuple(metadata), timeout=timeout)
        except grpc.aio.AioRpcError as error:
            return Outcome(error.code(), error.details() or "")
        return Outcome(grpc.StatusCode.OK)


def service_methods(*services: ServiceDescriptor) -> list[GrpcMethod]:
    """The methods of `services` with a unary request (all of Threadline's)."""
    return [
        GrpcMethod(
            service=service.full_name,
            name=method.name,
            request=message_factory.GetMessageClass(method.input_type),
            server_streaming=method.server_streaming,
        )
        for service in services
        for method in service.methods
        if not method.client_streaming
    ]


def session_methods() -> list[GrpcMethod]:
    """`SessionCommands` and `EventLog`."""
    services = session_pb2.DESCRIPTOR.services_by_name
    return service_methods(services["SessionCommands"], services["EventLog"])


def analytics_methods() -> list[GrpcMethod]:
    """`ConversationQueries` and `Metrics`."""
    services = analytics_pb2.DESCRIPTOR.services_by_name
    return service_methods(services["ConversationQueries"], services["Metrics"])


def knowledge_methods() -> list[GrpcMethod]:
    """The AI responder's `KnowledgeBases` (but `AddDocument`, whose requests stream)."""
    return service_methods(knowledge_pb2.DESCRIPTOR.services_by_name["KnowledgeBases"])
