"""ListConversations and GetConversation over gRPC: the read side's filters and fields."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.contracts.events.v1 import common_pb2

if TYPE_CHECKING:
    from conftest import EventLog, RunningAnalytics


def at(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


async def conversation_with_reply(
    analytics: RunningAnalytics, log: EventLog, *, model: str = "alpha", category: str = "SERVICE"
) -> UUID:
    contact, conversation = uuid4(), uuid4()
    await analytics.publish(
        log.contact(contact),
        log.conversation(conversation, contact, category=category),
        log.inbound(conversation, f"{conversation}-in"),
        log.queued(conversation, f"{conversation}-out", model=model, prompt_tokens=400),
    )
    await analytics.projected(log.position)
    return conversation


async def listed(analytics: RunningAnalytics, **criteria: Any) -> list[str]:
    reply = await analytics.queries.ListConversations(
        pb.ListConversationsRequest(**criteria), metadata=analytics.reader
    )
    return [c.id for c in reply.conversations]


async def test_conversations_are_filtered_by_the_assistant_that_answered(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    alpha = await conversation_with_reply(analytics, log, model="alpha")
    await conversation_with_reply(analytics, log, model="beta")

    assert await listed(analytics, assistant="alpha") == [str(alpha)]


async def test_the_creation_range_includes_its_start_and_excludes_its_end(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    first = await conversation_with_reply(analytics, log)
    log.wait(timedelta(days=1))
    middle_starts = log.now + timedelta(seconds=2)  # the contact, then the conversation
    middle = await conversation_with_reply(analytics, log)
    log.wait(timedelta(days=1))
    last_starts = log.now + timedelta(seconds=2)
    await conversation_with_reply(analytics, log)

    found = await listed(analytics, created_from=at(middle_starts), created_to=at(last_starts))
    since = await listed(analytics, created_to=at(middle_starts))

    assert found == [str(middle)]
    assert since == [str(first)]


async def test_the_last_message_range_selects_by_latest_activity(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    quiet = await conversation_with_reply(analytics, log)
    log.wait(timedelta(hours=5))
    busy = await conversation_with_reply(analytics, log)
    boundary = log.now - timedelta(hours=1)

    recent = await listed(analytics, last_message_from=at(boundary))
    older = await listed(analytics, last_message_to=at(boundary))

    assert (recent, older) == ([str(busy)], [str(quiet)])


@pytest.mark.parametrize("bound", ["created", "last_message"])
async def test_a_range_ending_before_it_starts_is_an_invalid_argument_that_says_so(
    analytics: RunningAnalytics, log: EventLog, bound: str
) -> None:
    later, earlier = at(log.now), at(log.now - timedelta(days=1))
    bounds: dict[str, Any] = {f"{bound}_from": later, f"{bound}_to": earlier}
    request = pb.ListConversationsRequest(**bounds)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await analytics.queries.ListConversations(request, metadata=analytics.reader)

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"{bound}_from must be before {bound}_to" in (raised.value.details() or "")


async def test_filters_combine_with_the_callers_scope(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    await conversation_with_reply(analytics, log, model="alpha")

    reply = await analytics.queries.ListConversations(
        pb.ListConversationsRequest(assistant="alpha"), metadata=analytics.tenant
    )

    assert (reply.total, list(reply.conversations)) == (0, [])


async def test_pages_of_the_largest_size_and_past_the_end(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    for _ in range(4):
        await conversation_with_reply(analytics, log)

    largest = await analytics.queries.ListConversations(
        pb.ListConversationsRequest(size=100), metadata=analytics.reader
    )
    exact = await analytics.queries.ListConversations(
        pb.ListConversationsRequest(page=2, size=2), metadata=analytics.reader
    )
    beyond = await analytics.queries.ListConversations(
        pb.ListConversationsRequest(page=3, size=2), metadata=analytics.reader
    )

    assert (len(largest.conversations), largest.size) == (4, 100)
    assert (len(exact.conversations), exact.total) == (2, 4)
    assert (len(beyond.conversations), beyond.total, beyond.page) == (0, 4, 3)


async def test_a_conversation_shows_its_category_assistant_tokens_and_cost(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    conversation = await conversation_with_reply(analytics, log, category="MARKETING")
    marketing = common_pb2.Pricing(billable=True, category="marketing")
    await analytics.publish(
        log.status(conversation, f"{conversation}-out", "sent", pricing=marketing),
        log.status_changed(conversation, "escalated", ai_paused=True, by="ai"),
    )
    await analytics.projected(log.position)

    reply = await analytics.queries.GetConversation(
        pb.GetConversationRequest(conversation_id=str(conversation)), metadata=analytics.reader
    )

    shown = reply.conversation
    assert (shown.category, shown.opened_by, shown.assistant) == ("MARKETING", "customer", "alpha")
    assert (shown.status, shown.ai_paused, shown.tokens) == ("escalated", True, 400)
    # The example rates: 400 prompt tokens at 0.00015 per 1k, one marketing message at 0.025.
    assert Decimal(str(shown.cost)) == Decimal("0.00006") + Decimal("0.025")


async def test_a_replys_details_travel_in_its_metadata(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    conversation = await conversation_with_reply(analytics, log, model="alpha")
    await analytics.publish(
        log.changed(conversation, "x-1", kind="reaction", target=f"{conversation}-out", text="👍")
    )
    await analytics.projected(log.position)

    reply = await analytics.queries.ListMessages(
        pb.ListMessagesRequest(conversation_id=str(conversation)), metadata=analytics.reader
    )

    details = json.loads(reply.messages[-1].metadata_json)
    assert (details["model"], details["prompt_tokens"], details["reaction"]) == ("alpha", 400, "👍")
    assert [h["status"] for h in details["status_history"]] == ["queued"]
