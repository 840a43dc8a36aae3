"""gRPC server metrics over a real server: each call counted by its status code, and timed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from prometheus_client import REGISTRY

from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.contracts.analytics.v1 import analytics_pb2_grpc as pb_grpc
from threadline.servicekit.auth import TokenRegistry, hash_token
from threadline.servicekit.grpc_kit import Registration, start_grpc_server
from threadline.servicekit.grpc_metrics import split_method

TOKEN = "metrics-token"
AUTH = (("authorization", f"Bearer {TOKEN}"),)
SERVICE = "threadline.analytics.v1.ConversationQueries"
METRICS = "threadline.analytics.v1.Metrics"
Context = grpc.aio.ServicerContext[Any, Any]


class Missing(LookupError):
    pass


class Queries(pb_grpc.ConversationQueriesServicer, pb_grpc.MetricsServicer):
    async def GetConversation(
        self, request: pb.GetConversationRequest, context: Context
    ) -> pb.GetConversationResponse:
        if request.conversation_id == "missing":
            raise Missing("no such conversation")
        if request.conversation_id == "crash":
            raise RuntimeError("boom")
        return pb.GetConversationResponse(conversation=pb.Conversation(id=request.conversation_id))

    async def ExportConversations(
        self, request: pb.ExportConversationsRequest, context: Context
    ) -> AsyncIterator[pb.ExportChunk]:
        yield pb.ExportChunk(data=b"id\n")
        yield pb.ExportChunk(data=b"1\n")


@pytest.fixture(scope="module")
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    queries = Queries()  # type: ignore[abstract]  # only the methods called here
    server, port = await start_grpc_server(
        host="127.0.0.1",
        port=0,
        tokens=TokenRegistry.parse(f"{hash_token(TOKEN)}:read:*"),
        errors={Missing: grpc.StatusCode.NOT_FOUND},
        registrations=[
            Registration(pb_grpc.add_ConversationQueriesServicer_to_server, queries, SERVICE),
            Registration(pb_grpc.add_MetricsServicer_to_server, queries, METRICS),
        ],
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel
    await server.stop(None)


def handled(method: str, code: str, service: str = SERVICE) -> float:
    value = REGISTRY.get_sample_value(
        "threadline_grpc_server_handled_total",
        {"service": service, "method": method, "code": code},
    )
    return value or 0.0


def timed(method: str) -> float:
    value = REGISTRY.get_sample_value(
        "threadline_grpc_server_handling_seconds_count", {"service": SERVICE, "method": method}
    )
    return value or 0.0


async def test_each_call_is_counted_with_the_status_it_ended_with(
    channel: grpc.aio.Channel,
) -> None:
    stub = pb_grpc.ConversationQueriesStub(channel)
    before = {code: handled("GetConversation", code) for code in ("OK", "NOT_FOUND", "INTERNAL")}
    unauthenticated = handled("GetConversation", "UNAUTHENTICATED")
    calls = timed("GetConversation")

    await stub.GetConversation(pb.GetConversationRequest(conversation_id="c1"), metadata=AUTH)
    for conversation_id in ("missing", "crash"):
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.GetConversation(
                pb.GetConversationRequest(conversation_id=conversation_id), metadata=AUTH
            )
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.GetConversation(pb.GetConversationRequest(conversation_id="c1"))

    assert handled("GetConversation", "OK") == before["OK"] + 1
    assert handled("GetConversation", "NOT_FOUND") == before["NOT_FOUND"] + 1
    assert handled("GetConversation", "INTERNAL") == before["INTERNAL"] + 1
    assert handled("GetConversation", "UNAUTHENTICATED") == unauthenticated + 1
    assert timed("GetConversation") == calls + 4


async def test_a_stream_is_counted_once_when_it_ends(channel: grpc.aio.Channel) -> None:
    stub = pb_grpc.MetricsStub(channel)
    before = handled("ExportConversations", "OK", METRICS)

    chunks = [
        c async for c in stub.ExportConversations(pb.ExportConversationsRequest(), metadata=AUTH)
    ]

    assert len(chunks) == 2
    assert handled("ExportConversations", "OK", METRICS) == before + 1


def test_a_method_name_out_of_shape_is_one_label_not_many() -> None:
    assert split_method("/a.B/C") == ("a.B", "C")
    assert split_method("nonsense") == ("unknown", "unknown")
    assert split_method("/x/y/z") == ("unknown", "unknown")
