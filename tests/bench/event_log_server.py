"""The session's `EventLog` gRPC service alone, in a process of its own, over a recorded log.

What `threadline replay` reads in production is the session service's EventLog; the rebuild
benchmark serves the same servicer (`threadline.session.grpc_api.EventLogServicer`, with the
same token guard) without the session's consumers and relay, which would only compete for the
two cores. Run as `python -m tests.bench.event_log_server DATABASE_URL PORT TOKEN`.

Beside it, a **prototype** the benchmark uses to measure a proposal, not part of any contract:
`/threadline.bench.EventLogPages/ReadAll`, the same reading with up to 1000 events per
streamed message (`SessionEventPage { repeated SessionEvent events = 1; }`, built at run time
here), since gRPC's cost per streamed message, not the events, bounds `ReadAll`.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

from tests.bench.event_log import session_app
from threadline.contracts.events.v1 import session_pb2 as ev
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.servicekit.auth import TokenRegistry, hash_token
from threadline.servicekit.grpc_kit import Registration, start_grpc_server
from threadline.session.application.conversations import Conversations
from threadline.session.grpc_api import ERRORS, PAGE, EventLogServicer
from threadline.session.integration_events import to_session_event

PAGES_METHOD = "/threadline.bench.EventLogPages/ReadAll"


def page_class() -> type[Message]:
    """`SessionEventPage`, defined at run time over the contract's `SessionEvent`."""
    pool = descriptor_pool.Default()
    try:
        found = pool.FindMessageTypeByName("threadline.bench.SessionEventPage")
    except KeyError:
        file = descriptor_pb2.FileDescriptorProto(
            name="threadline/bench/pages.proto",
            package="threadline.bench",
            dependency=[ev.DESCRIPTOR.name],
            syntax="proto3",
        )
        message = file.message_type.add(name="SessionEventPage")
        message.field.add(
            name="events",
            number=1,
            label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED,
            type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
            type_name=".threadline.events.v1.SessionEvent",
        )
        pool.Add(file)
        found = pool.FindMessageTypeByName("threadline.bench.SessionEventPage")
    return message_factory.GetMessageClass(found)


def pages_handler(app: Conversations) -> grpc.GenericRpcHandler:
    page = page_class()

    async def read_all(
        request: pb.ReadAllRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Message]:
        after = max(request.from_position, 1) - 1
        while True:
            notes = await asyncio.to_thread(
                app.recorder.select_notifications, after, PAGE, inclusive_of_start=False
            )
            if notes:
                events = [to_session_event(app.mapper.to_domain_event(n), n.id)[2] for n in notes]
                yield page(events=events)
            if len(notes) < PAGE:
                return
            after = notes[-1].id

    return grpc.method_handlers_generic_handler(
        "threadline.bench.EventLogPages",
        {
            "ReadAll": grpc.unary_stream_rpc_method_handler(
                read_all,
                request_deserializer=pb.ReadAllRequest.FromString,
                response_serializer=lambda message: message.SerializeToString(),
            )
        },
    )


class PagedEventLogReader:
    """The replay's event source over the prototype: pages in, events out; `head` by the
    contract's `ReadAll`."""

    def __init__(self, channel: grpc.Channel, token: str, head: Any) -> None:
        page = page_class()
        self._call: grpc.UnaryStreamMultiCallable[Any, Any] = channel.unary_stream(
            PAGES_METHOD,
            request_serializer=lambda request: request.SerializeToString(),
            response_deserializer=page.FromString,
        )
        self._metadata = (("authorization", f"Bearer {token}"),)
        self._head = head

    def read_all(self, *, after: int = 0, limit: int = 0) -> Iterator[SessionEvent]:
        request = pb.ReadAllRequest(from_position=after + 1)
        for page in self._call(request, metadata=self._metadata):
            yield from page.events

    def head(self, *, at_least: int = 0) -> int:
        return int(self._head(at_least=at_least))


async def serve(database_url: str, port: int, token: str) -> None:
    app = session_app(database_url)
    server, _ = await start_grpc_server(
        host="127.0.0.1",
        port=port,
        registrations=[
            Registration(
                pb_grpc.add_EventLogServicer_to_server,
                EventLogServicer(app),
                "threadline.session.v1.EventLog",
            )
        ],
        tokens=TokenRegistry.parse(f"{hash_token(token)}:read:*"),
        errors=ERRORS,
    )
    server.add_generic_rpc_handlers((pages_handler(app),))
    try:
        await server.wait_for_termination()
    finally:
        app.close()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
