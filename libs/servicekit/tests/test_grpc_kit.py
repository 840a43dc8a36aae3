"""The gRPC server kit over a real server: what every call is checked for, and how errors end.

A small servicer of `ConversationQueries` and `Metrics` stands in for a service; its methods
misbehave on cue.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from hypothesis import HealthCheck, given, settings

from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.contracts.analytics.v1 import analytics_pb2_grpc as pb_grpc
from threadline.servicekit.auth import TokenRegistry, current_principal, hash_token
from threadline.servicekit.errors import MAX_MESSAGE_BYTES
from threadline.servicekit.grpc_kit import Registration, start_grpc_server
from threadline.servicekit.validation import Rule, field_rules
from threadline.testing.grpc_fuzz import request_bytes, requests
from threadline.testing.grpc_surface import FAILURES, GrpcMethod, analytics_methods

TOKEN = "kit-token"
AUTH = (("authorization", f"Bearer {TOKEN}"),)
SECRET = "password=hunter2"
RULES = field_rules(pb.GetConversationRequest, conversation_id=Rule(64))
Context = grpc.aio.ServicerContext[Any, Any]


class Missing(LookupError):
    pass


class Misbehaving(pb_grpc.ConversationQueriesServicer, pb_grpc.MetricsServicer):
    """GetConversation fails as its id asks: `crash` (an unexpected error), `long` (a mapped
    error with a 40 KB message); ExportConversations crashes after one chunk."""

    async def GetConversation(
        self, request: pb.GetConversationRequest, context: Context
    ) -> pb.GetConversationResponse:
        current_principal()
        if request.conversation_id == "crash":
            raise RuntimeError(f"connection to db failed: {SECRET} " + "x" * 40_000)
        if request.conversation_id == "long":
            raise Missing("conversation " + "é" * 20_000 + " was not found")
        return pb.GetConversationResponse(conversation=pb.Conversation(id=request.conversation_id))

    async def ListConversations(
        self, request: pb.ListConversationsRequest, context: Context
    ) -> pb.ListConversationsResponse:
        return pb.ListConversationsResponse(page=request.page)

    async def ListMessages(
        self, request: pb.ListMessagesRequest, context: Context
    ) -> pb.ListMessagesResponse:
        return pb.ListMessagesResponse()

    async def GetSessionStatus(
        self, request: pb.GetSessionStatusRequest, context: Context
    ) -> pb.GetSessionStatusResponse:
        return pb.GetSessionStatusResponse()

    async def GetMetrics(
        self, request: pb.GetMetricsRequest, context: Context
    ) -> pb.GetMetricsResponse:
        return pb.GetMetricsResponse()

    async def ExportConversations(
        self, request: pb.ExportConversationsRequest, context: Context
    ) -> AsyncIterator[pb.ExportChunk]:
        yield pb.ExportChunk(data=b"id\n")
        if request.format == "crash":
            raise KeyError(SECRET)


@pytest.fixture(scope="module")
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    servicer = Misbehaving()
    server, port = await start_grpc_server(
        host="127.0.0.1",
        port=0,
        tokens=TokenRegistry.parse(f"{hash_token(TOKEN)}:read:*"),
        errors={Missing: grpc.StatusCode.NOT_FOUND},
        rules=RULES,
        registrations=[
            Registration(
                pb_grpc.add_ConversationQueriesServicer_to_server,
                servicer,
                "threadline.analytics.v1.ConversationQueries",
            ),
            Registration(
                pb_grpc.add_MetricsServicer_to_server, servicer, "threadline.analytics.v1.Metrics"
            ),
        ],
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel
    await server.stop(None)


def method(name: str) -> GrpcMethod:
    (found,) = [m for m in analytics_methods() if m.name == name]
    return found


async def test_bytes_that_are_not_the_request_message_are_an_invalid_argument(
    channel: grpc.aio.Channel,
) -> None:
    # A string field holding a lone surrogate as CESU-8: not UTF-8, so not a protobuf string.
    surrogate = b"\x0a\x03\xed\xa0\x80"

    for data in (b"\xff\xff\xff", surrogate, b"\x0a\x05ab"):
        outcome = await method("GetConversation").call(channel, data, metadata=AUTH)

        assert outcome.code == grpc.StatusCode.INVALID_ARGUMENT, data
        assert outcome.details == (
            "the request is not a well-formed protobuf message for"
            " /threadline.analytics.v1.ConversationQueries/GetConversation"
        )


async def test_the_caller_is_authenticated_before_the_request_is_read(
    channel: grpc.aio.Channel,
) -> None:
    outcome = await method("GetConversation").call(channel, b"\xff\xff")

    assert outcome.code == grpc.StatusCode.UNAUTHENTICATED


async def test_health_needs_no_token_and_refuses_malformed_bytes_the_same_way(
    channel: grpc.aio.Channel,
) -> None:
    check = channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )
    served = await check(health_pb2.HealthCheckRequest().SerializeToString())
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await check(b"\xff\xff")

    assert served.status == health_pb2.HealthCheckResponse.SERVING
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (
            pb.GetConversationRequest(conversation_id="a\x00b"),
            "conversation_id must not contain NUL",
        ),
        (pb.GetConversationRequest(conversation_id="9" * 65), "conversation_id is too long: 65"),
        (
            pb.ListConversationsRequest(created_from=Timestamp(seconds=10**15)),
            "created_from is out of range",
        ),
        (
            pb.GetMetricsRequest(period_to=Timestamp(seconds=0, nanos=-1)),
            "period_to is out of range: nanos",
        ),
        (pb.GetSessionStatusRequest(customer="y" * 3000), "customer is too long: 3000 characters"),
    ],
)
async def test_a_field_out_of_bounds_is_an_invalid_argument_naming_it(
    channel: grpc.aio.Channel, request_: Any, expected: str
) -> None:
    name = type(request_).DESCRIPTOR.name.removesuffix("Request")
    outcome = await method(name).call(channel, request_, metadata=AUTH)

    assert outcome.code == grpc.StatusCode.INVALID_ARGUMENT
    assert outcome.details.startswith(expected)


async def test_an_unexpected_error_is_internal_and_says_nothing_of_its_cause(
    channel: grpc.aio.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="threadline.servicekit.grpc_kit"):
        outcome = await method("GetConversation").call(
            channel, pb.GetConversationRequest(conversation_id="crash"), metadata=AUTH
        )

    assert outcome.code == grpc.StatusCode.INTERNAL
    assert outcome.details.startswith("internal error (incident ")
    assert SECRET not in outcome.details
    (record,) = [r for r in caplog.records if "RuntimeError" in r.getMessage()]
    incident = outcome.details.split("incident ")[1].split(")")[0]
    assert incident in record.getMessage()
    assert SECRET in record.getMessage()  # the operator's log has the cause...
    assert len(record.getMessage()) < 4000  # ...in a bounded line
    assert record.exc_info is None


async def test_a_stream_that_fails_midway_ends_internal(channel: grpc.aio.Channel) -> None:
    outcome = await method("ExportConversations").call(
        channel, pb.ExportConversationsRequest(format="crash"), metadata=AUTH
    )

    assert outcome.code == grpc.StatusCode.INTERNAL
    assert SECRET not in outcome.details


async def test_a_long_error_message_is_cut_rather_than_lost(channel: grpc.aio.Channel) -> None:
    outcome = await method("GetConversation").call(
        channel, pb.GetConversationRequest(conversation_id="long"), metadata=AUTH
    )

    assert outcome.code == grpc.StatusCode.NOT_FOUND
    assert outcome.details.startswith("conversation éé")
    assert len(outcome.details.encode()) <= MAX_MESSAGE_BYTES


async def test_a_valid_request_is_served(channel: grpc.aio.Channel) -> None:
    outcome = await method("ListConversations").call(
        channel, pb.ListConversationsRequest(page=2), metadata=AUTH
    )

    assert outcome.code == grpc.StatusCode.OK


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=request_bytes(pb.ListConversationsRequest))
async def test_no_bytes_end_in_a_failure(channel: grpc.aio.Channel, data: bytes) -> None:
    outcome = await method("ListConversations").call(channel, data, metadata=AUTH)

    assert outcome.code not in FAILURES, outcome


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(request=requests(pb.ExportConversationsRequest))
async def test_no_message_ends_in_a_failure(
    channel: grpc.aio.Channel, request: pb.ExportConversationsRequest
) -> None:
    if request.format == "crash":
        request.format = "csv"
    outcome = await method("ExportConversations").call(channel, request, metadata=AUTH)

    assert outcome.code not in FAILURES, outcome


async def test_reflection_still_answers_through_the_checked_stream_of_requests(
    channel: grpc.aio.Channel,
) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    asked = reflection_pb2.ServerReflectionRequest(list_services="")

    answers = [answer async for answer in stub.ServerReflectionInfo(iter([asked]))]

    names = {s.name for s in answers[0].list_services_response.service}
    assert {"threadline.analytics.v1.ConversationQueries", "grpc.health.v1.Health"} <= names


async def test_a_malformed_message_in_a_stream_of_requests_is_an_invalid_argument(
    channel: grpc.aio.Channel,
) -> None:
    call = channel.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        async for _ in call(iter([b"\xff\xff\xff"])):
            pass

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
