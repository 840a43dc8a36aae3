"""ConversationQueries over gRPC: paging, filters, refusals and tenant isolation."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

import grpc
import pytest

from threadline.analytics.application.read import queries
from threadline.contracts.analytics.v1 import analytics_pb2 as pb

if TYPE_CHECKING:
    from conftest import EventLog, RunningAnalytics


async def start_conversation(
    analytics: RunningAnalytics,
    log: EventLog,
    *,
    messages: int = 1,
    wa_id: str = "15550001111",
    number: str = "",
) -> UUID:
    contact, conversation = uuid4(), uuid4()
    events = [
        log.contact(contact, wa_id=wa_id, number=number),
        log.conversation(conversation, contact, wa_id=wa_id, number=number),
        *(log.inbound(conversation, f"{conversation}-{n}") for n in range(messages)),
    ]
    await analytics.publish(*events)
    await analytics.projected(log.position)
    return conversation


async def refusal(call: Awaitable[object]) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value.code()


async def test_conversations_are_listed_most_recently_active_first(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    first = await start_conversation(analytics, log)
    second = await start_conversation(analytics, log)
    await analytics.publish(log.inbound(first, "m-latest", text="one more thing"))
    await analytics.projected(log.position)

    reply = await analytics.queries.ListConversations(
        pb.ListConversationsRequest(), metadata=analytics.reader
    )

    assert [c.id for c in reply.conversations] == [str(first), str(second)]
    assert (reply.total, reply.page, reply.size) == (2, 1, 20)
    assert reply.conversations[0].last_message_preview == "one more thing"
    assert reply.conversations[0].message_count == 2


async def test_the_last_page_holds_the_remainder_and_the_page_after_it_is_empty(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    for _ in range(5):
        await start_conversation(analytics, log)

    pages = [
        await analytics.queries.ListConversations(
            pb.ListConversationsRequest(page=page, size=2), metadata=analytics.reader
        )
        for page in (1, 2, 3, 4)
    ]

    assert [len(p.conversations) for p in pages] == [2, 2, 1, 0]
    assert {p.total for p in pages} == {5}
    assert len({c.id for p in pages for c in p.conversations}) == 5


async def test_total_is_counted_up_to_a_bound_and_estimated_past_it(
    analytics: RunningAnalytics, log: EventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past `COUNT_BOUND` matches the count stops and the planner's estimate is given,
    marked as one (never less than the bound); at or under it the count is exact."""
    monkeypatch.setattr(queries, "COUNT_BOUND", 3)
    for n in range(5):
        await start_conversation(analytics, log, wa_id=f"1555000{n:04d}")

    everything = await analytics.queries.ListConversations(
        pb.ListConversationsRequest(size=2), metadata=analytics.reader
    )
    one = await analytics.queries.ListConversations(
        pb.ListConversationsRequest(customer_phone="15550000002"), metadata=analytics.reader
    )

    assert everything.total_estimated and everything.total >= 4
    assert len(everything.conversations) == 2
    assert (one.total, one.total_estimated) == (1, False)


async def test_conversations_are_filtered_by_customer_phone_lead_and_status(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    wanted = await start_conversation(analytics, log, wa_id="15550002222")
    await start_conversation(analytics, log, wa_id="15550003333")
    lead_id = (
        await analytics.queries.GetConversation(
            pb.GetConversationRequest(conversation_id=str(wanted)), metadata=analytics.reader
        )
    ).conversation.lead_id

    by_phone = await analytics.queries.ListConversations(
        pb.ListConversationsRequest(customer_phone="+1 555 000 2222"), metadata=analytics.reader
    )
    by_lead = await analytics.queries.ListConversations(
        pb.ListConversationsRequest(lead_id=lead_id, status="active", channel="whatsapp"),
        metadata=analytics.reader,
    )
    by_status = await analytics.queries.ListConversations(
        pb.ListConversationsRequest(status="completed"), metadata=analytics.reader
    )

    assert [c.id for c in by_phone.conversations] == [str(wanted)]
    assert [c.id for c in by_lead.conversations] == [str(wanted)]
    assert (by_status.total, list(by_status.conversations)) == (0, [])


async def test_conversations_are_filtered_by_business_number(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    await start_conversation(analytics, log)
    elsewhere = await start_conversation(analytics, log, number=analytics.other_number)

    reply = await analytics.queries.ListConversations(
        pb.ListConversationsRequest(business_number=analytics.other_number),
        metadata=analytics.reader,
    )

    assert [c.id for c in reply.conversations] == [str(elsewhere)]
    assert reply.conversations[0].business_number == analytics.other_number


async def test_messages_are_listed_in_windows_oldest_first(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    conversation = await start_conversation(analytics, log, messages=5)

    reply = await analytics.queries.ListMessages(
        pb.ListMessagesRequest(conversation_id=str(conversation), limit=2, offset=3),
        metadata=analytics.reader,
    )

    assert [m.id for m in reply.messages] == [f"{conversation}-3", f"{conversation}-4"]
    assert reply.total == 5


async def test_a_failed_outbound_message_shows_its_whatsapp_error(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    conversation = await start_conversation(analytics, log)
    await analytics.publish(
        log.queued(conversation, "m-out"), log.failed(conversation, "m-out", code=131047)
    )
    await analytics.projected(log.position)

    reply = await analytics.queries.GetConversation(
        pb.GetConversationRequest(conversation_id=str(conversation)), metadata=analytics.reader
    )

    failed = reply.messages[-1]
    assert (failed.id, failed.status) == ("m-out", "failed")
    assert json.loads(failed.metadata_json)["error"]["code"] == 131047


@pytest.mark.parametrize(
    "request_",
    [
        pb.ListConversationsRequest(page=-1),
        pb.ListConversationsRequest(size=101),
        pb.ListConversationsRequest(size=-1),
        pb.ListConversationsRequest(lead_id="not-a-uuid"),
    ],
    ids=["negative page", "size over 100", "negative size", "malformed lead id"],
)
async def test_out_of_range_listings_are_invalid_arguments(
    analytics: RunningAnalytics, request_: pb.ListConversationsRequest
) -> None:
    call = analytics.queries.ListConversations(request_, metadata=analytics.reader)

    assert await refusal(call) == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    "request_",
    [
        pb.ListMessagesRequest(conversation_id=str(uuid4()), limit=501),
        pb.ListMessagesRequest(conversation_id=str(uuid4()), offset=-1),
        pb.ListMessagesRequest(conversation_id="42"),
    ],
    ids=["limit over 500", "negative offset", "malformed id"],
)
async def test_out_of_range_message_windows_are_invalid_arguments(
    analytics: RunningAnalytics, request_: pb.ListMessagesRequest
) -> None:
    call = analytics.queries.ListMessages(request_, metadata=analytics.reader)

    assert await refusal(call) == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_malformed_conversation_id_is_an_invalid_argument_that_says_why(
    analytics: RunningAnalytics,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await analytics.queries.GetConversation(
            pb.GetConversationRequest(conversation_id="c-17"), metadata=analytics.reader
        )

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "conversation_id must be a UUID" in (raised.value.details() or "")


async def test_an_unknown_conversation_is_not_found(analytics: RunningAnalytics) -> None:
    call = analytics.queries.GetConversation(
        pb.GetConversationRequest(conversation_id=str(uuid4())), metadata=analytics.reader
    )

    assert await refusal(call) == grpc.StatusCode.NOT_FOUND


async def test_another_tenants_conversation_is_not_found_and_not_listed(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    conversation = await start_conversation(analytics, log)

    get = analytics.queries.GetConversation(
        pb.GetConversationRequest(conversation_id=str(conversation)), metadata=analytics.tenant
    )
    messages = analytics.queries.ListMessages(
        pb.ListMessagesRequest(conversation_id=str(conversation)), metadata=analytics.tenant
    )
    listed = await analytics.queries.ListConversations(
        pb.ListConversationsRequest(), metadata=analytics.tenant
    )

    assert await refusal(get) == grpc.StatusCode.NOT_FOUND
    assert await refusal(messages) == grpc.StatusCode.NOT_FOUND
    assert (listed.total, list(listed.conversations)) == (0, [])


async def test_a_tenant_sees_its_own_business_numbers_conversations(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    await start_conversation(analytics, log)
    own = await start_conversation(analytics, log, number=analytics.other_number)

    listed = await analytics.queries.ListConversations(
        pb.ListConversationsRequest(), metadata=analytics.tenant
    )

    assert [c.id for c in listed.conversations] == [str(own)]


async def test_a_call_without_a_token_is_unauthenticated(analytics: RunningAnalytics) -> None:
    call = analytics.queries.ListConversations(pb.ListConversationsRequest())

    assert await refusal(call) == grpc.StatusCode.UNAUTHENTICATED


async def test_a_token_without_the_read_role_is_denied(analytics: RunningAnalytics) -> None:
    call = analytics.queries.ListConversations(
        pb.ListConversationsRequest(), metadata=analytics.writer
    )

    assert await refusal(call) == grpc.StatusCode.PERMISSION_DENIED
