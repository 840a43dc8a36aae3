"""Hostile or broken queries over real gRPC and PostgreSQL (issue 8): every refusal names the
field, nothing fails with UNKNOWN or INTERNAL, and another tenant's ids say nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.testing.grpc_fuzz import request_bytes, requests
from threadline.testing.grpc_surface import FAILURES, GrpcMethod, Outcome, analytics_methods

if TYPE_CHECKING:
    from conftest import EventLog, RunningAnalytics

METHODS = {m.name: m for m in analytics_methods()}
WA_ID = "15550001111"


async def call(analytics: RunningAnalytics, name: str, request: Any, token: str) -> Outcome:
    metadata = {"reader": analytics.reader, "tenant": analytics.tenant}[token]
    return await METHODS[name].call(analytics.channel, request, metadata=metadata)


async def a_customer_of_the_first_number(
    analytics: RunningAnalytics, log: EventLog
) -> dict[str, UUID]:
    """A conversation and every other kind of id the first business number has."""
    ids = {"contact": uuid4(), "conversation": uuid4(), "business number": uuid4()}
    claimed = log.key_claimed(ids["contact"], f"wa:{WA_ID}")
    await analytics.publish(
        log.number(ids["business number"]),
        log.contact(ids["contact"], wa_id=WA_ID),
        claimed,
        log.conversation(ids["conversation"], ids["contact"], wa_id=WA_ID),
        log.inbound(ids["conversation"], "m-1"),
    )
    await analytics.projected(log.position)
    return {**ids, "contact key": UUID(claimed.aggregate_id), "nothing": uuid4()}


async def test_any_id_but_a_visible_conversation_is_not_found_alike(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    ids = await a_customer_of_the_first_number(analytics, log)
    others = {k: v for k, v in ids.items() if k != "conversation"}

    for token, tried in (("tenant", ids), ("reader", others)):
        for what, some_id in tried.items():
            for name, request in (
                ("GetConversation", pb.GetConversationRequest(conversation_id=str(some_id))),
                ("ListMessages", pb.ListMessagesRequest(conversation_id=str(some_id))),
            ):
                outcome = await call(analytics, name, request, token)

                assert outcome == Outcome(
                    grpc.StatusCode.NOT_FOUND, f"conversation {some_id} not found"
                ), (name, token, what)
    seen = await call(
        analytics,
        "GetConversation",
        pb.GetConversationRequest(conversation_id=str(ids["conversation"])),
        "reader",
    )
    assert seen.code == grpc.StatusCode.OK


async def test_another_tenants_customer_reads_like_no_customer(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    await a_customer_of_the_first_number(analytics, log)

    theirs = await call(
        analytics,
        "GetSessionStatus",
        pb.GetSessionStatusRequest(business_number=analytics.business_number, customer=WA_ID),
        "tenant",
    )
    nobody = await call(
        analytics,
        "GetSessionStatus",
        pb.GetSessionStatusRequest(business_number=analytics.other_number, customer=WA_ID),
        "tenant",
    )

    assert theirs == Outcome(
        grpc.StatusCode.NOT_FOUND,
        f"no customer {WA_ID!r} on business number {analytics.business_number!r}",
    )
    assert nobody == Outcome(
        grpc.StatusCode.NOT_FOUND,
        f"no customer {WA_ID!r} on business number {analytics.other_number!r}",
    )


async def test_filters_naming_another_tenants_ids_find_nothing(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    ids = await a_customer_of_the_first_number(analytics, log)
    lead = str(ids["contact"])

    listed = await analytics.queries.ListConversations(
        pb.ListConversationsRequest(lead_id=lead), metadata=analytics.tenant
    )
    by_number = await analytics.queries.ListConversations(
        pb.ListConversationsRequest(business_number=analytics.business_number),
        metadata=analytics.tenant,
    )
    exported = await call(
        analytics,
        "ExportConversations",
        pb.ExportConversationsRequest(filter=pb.ConversationFilter(lead_id=lead)),
        "tenant",
    )

    assert (listed.total, by_number.total) == (0, 0)
    assert exported.code == grpc.StatusCode.OK


FAR = Timestamp(seconds=10**13)
BAD_NANOS = Timestamp(seconds=0, nanos=-5)
ANY_ID = str(uuid4())


@pytest.mark.parametrize(
    ("name", "request_", "expected"),
    [
        ("ListConversations", pb.ListConversationsRequest(status="\x00"), "status must not"),
        ("ListConversations", pb.ListConversationsRequest(channel="c" * 33), "channel is too"),
        (
            "ListConversations",
            pb.ListConversationsRequest(business_number="9" * 3000),
            "business_number is too long: 3000 characters, at most 64",
        ),
        ("ListConversations", pb.ListConversationsRequest(created_from=FAR), "created_from is"),
        ("ListConversations", pb.ListConversationsRequest(last_message_to=BAD_NANOS), "last_"),
        ("ListConversations", pb.ListConversationsRequest(size=10**6), "size must be between"),
        ("ListConversations", pb.ListConversationsRequest(page=-1), "page must be 1 or more"),
        (
            "ListConversations",
            pb.ListConversationsRequest(lead_id="x" * 60),
            f"lead_id must be a UUID, got {'x' * 60!r}",
        ),
        ("GetConversation", pb.GetConversationRequest(conversation_id="x" * 65), "conversation_"),
        ("ListMessages", pb.ListMessagesRequest(conversation_id="a\x00"), "conversation_id must"),
        ("ListMessages", pb.ListMessagesRequest(conversation_id=ANY_ID, limit=2**31 - 1), "limit"),
        (
            "GetSessionStatus",
            pb.GetSessionStatusRequest(business_number="n", customer="c" * 129),
            "customer is too long",
        ),
        (
            "GetMetrics",
            pb.GetMetricsRequest(filter=pb.ConversationFilter(assistant="\x00")),
            "filter.assistant must not contain NUL",
        ),
        ("GetMetrics", pb.GetMetricsRequest(period_from=FAR), "period_from is out of range"),
        (
            "ExportConversations",
            pb.ExportConversationsRequest(format="x" * 17),
            "format is too long",
        ),
        (
            "ExportConversations",
            pb.ExportConversationsRequest(format="parquet"),
            "format must be one of",
        ),
        (
            "ExportConversations",
            pb.ExportConversationsRequest(filter=pb.ConversationFilter(created_to=FAR)),
            "filter.created_to is out of range",
        ),
    ],
)
async def test_a_bad_query_is_an_invalid_argument_naming_the_field(
    analytics: RunningAnalytics, name: str, request_: Any, expected: str
) -> None:
    outcome = await call(analytics, name, request_, "reader")

    assert outcome.code == grpc.StatusCode.INVALID_ARGUMENT, outcome
    assert outcome.details.startswith(expected), outcome.details


async def test_malformed_bytes_are_an_invalid_argument_for_every_method(
    analytics: RunningAnalytics,
) -> None:
    for method in METHODS.values():
        for data in (b"\xff\xff\xff", b"\x0a\x05ab"):
            outcome = await method.call(analytics.channel, data, metadata=analytics.reader)

            assert outcome.code == grpc.StatusCode.INVALID_ARGUMENT, (method.name, data)


def any_method_and_request(raw: bool) -> st.SearchStrategy[tuple[GrpcMethod, Any]]:
    make = request_bytes if raw else requests
    known = ["pn-analytics-1", "pn-analytics-2", WA_ID, "active", "csv", "jsonl"]
    return st.one_of(
        [
            make(method.request, known=known).map(lambda r, m=method: (m, r))
            for method in METHODS.values()
        ]
    )


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    call_=any_method_and_request(raw=False),
    token=st.sampled_from(["reader", "tenant"]),
)
async def test_no_query_ends_in_a_failure(
    analytics: RunningAnalytics, call_: tuple[GrpcMethod, Any], token: str
) -> None:
    method, request = call_
    metadata = analytics.reader if token == "reader" else analytics.tenant

    outcome = await method.call(analytics.channel, request, metadata=metadata)

    event(f"{method.name}: {outcome.code.name}")
    assert outcome.code not in FAILURES, (method.name, outcome)
    assert len(outcome.details.encode()) <= 1024


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(call_=any_method_and_request(raw=True))
async def test_no_bytes_sent_to_any_method_end_in_a_failure(
    analytics: RunningAnalytics, call_: tuple[GrpcMethod, bytes]
) -> None:
    method, data = call_

    outcome = await method.call(analytics.channel, data, metadata=analytics.reader)

    assert outcome.code not in FAILURES, (method.name, outcome)
