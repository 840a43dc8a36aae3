"""GetSessionStatus over gRPC: the customer service window with one customer of a number."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

import grpc
import pytest

from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.testing.clock import FakeClock

if TYPE_CHECKING:
    from conftest import EventLog, RunningAnalytics

WA_ID = "15550004242"


async def customer_wrote(
    analytics: RunningAnalytics,
    log: EventLog,
    *,
    sent_at: datetime,
    free_entry: bool = False,
    number: str = "",
) -> UUID:
    contact, conversation = uuid4(), uuid4()
    await analytics.publish(
        log.contact(contact, wa_id=WA_ID, number=number),
        log.key_claimed(contact, f"wa:{WA_ID}", number=number),
        log.conversation(conversation, contact, wa_id=WA_ID, number=number),
        log.inbound(conversation, f"{conversation}-in", sent_at=sent_at, free_entry=free_entry),
    )
    await analytics.projected(log.position)
    return conversation


async def templates_registered(analytics: RunningAnalytics, log: EventLog) -> None:
    number = uuid4()
    await analytics.publish(
        log.number(number),
        log.template(number, "order_shipped"),
        log.template(number, "appointment", language="pt_BR", body="Hi", parameter_count=0),
    )
    await analytics.projected(log.position)


async def status_of(
    analytics: RunningAnalytics, customer: str = WA_ID, *, number: str = ""
) -> pb.GetSessionStatusResponse:
    request = pb.GetSessionStatusRequest(
        business_number=number or analytics.business_number, customer=customer
    )
    reply: pb.GetSessionStatusResponse = await analytics.queries.GetSessionStatus(
        request, metadata=analytics.reader
    )
    return reply


def moment(stamp: object) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)  # type: ignore[attr-defined,no-any-return]


async def test_the_window_is_open_within_24_hours_of_the_customers_message(
    analytics: RunningAnalytics, log: EventLog, clock: FakeClock
) -> None:
    sent = log.now
    conversation = await customer_wrote(analytics, log, sent_at=sent)
    await templates_registered(analytics, log)
    clock.now = sent + timedelta(hours=20, seconds=30)

    status = await status_of(analytics, f"+{WA_ID}")

    assert status.window_active
    assert moment(status.last_inbound_at) == sent
    assert moment(status.expires_at) == sent + timedelta(hours=24)
    assert status.remaining_minutes == 4 * 60 - 1  # 3 h 59 min 30 s, rounded down
    assert status.conversation_id == str(conversation)
    assert list(status.templates) == []


async def test_a_closed_window_lists_the_numbers_templates(
    analytics: RunningAnalytics, log: EventLog, clock: FakeClock
) -> None:
    sent = log.now
    await customer_wrote(analytics, log, sent_at=sent)
    await templates_registered(analytics, log)
    clock.now = sent + timedelta(hours=24, minutes=1)

    status = await status_of(analytics)

    assert (status.window_active, status.remaining_minutes) == (False, 0)
    assert moment(status.expires_at) == sent + timedelta(hours=24)
    assert [(t.name, t.language, t.category, t.parameter_count) for t in status.templates] == [
        ("appointment", "pt_BR", "UTILITY", 0),
        ("order_shipped", "en_US", "UTILITY", 1),
    ]


async def test_a_free_entry_message_keeps_the_window_open_for_72_hours(
    analytics: RunningAnalytics, log: EventLog, clock: FakeClock
) -> None:
    sent = log.now
    await customer_wrote(analytics, log, sent_at=sent, free_entry=True)
    clock.now = sent + timedelta(hours=71)

    status = await status_of(analytics)

    assert status.window_active
    assert moment(status.expires_at) == sent + timedelta(hours=72)
    assert status.remaining_minutes == 60


async def test_the_window_follows_the_customers_latest_conversation(
    analytics: RunningAnalytics, log: EventLog, clock: FakeClock
) -> None:
    earlier = await customer_wrote(analytics, log, sent_at=log.now)
    await analytics.publish(log.status_changed(earlier, "completed"))
    log.wait(timedelta(hours=30))
    latest = await customer_wrote(analytics, log, sent_at=log.now)
    clock.now = log.now + timedelta(hours=1)

    status = await status_of(analytics)

    assert (status.conversation_id, status.window_active) == (str(latest), True)


async def test_a_completed_conversation_takes_no_free_form_message(
    analytics: RunningAnalytics, log: EventLog, clock: FakeClock
) -> None:
    conversation = await customer_wrote(analytics, log, sent_at=log.now)
    await analytics.publish(log.status_changed(conversation, "completed"))
    await analytics.projected(log.position)
    clock.now = log.now + timedelta(hours=1)

    status = await status_of(analytics)

    assert (status.window_active, status.conversation_id) == (False, str(conversation))


async def test_a_customer_known_by_business_scoped_id_is_found_by_it(
    analytics: RunningAnalytics, log: EventLog, clock: FakeClock
) -> None:
    contact, conversation = uuid4(), uuid4()
    await analytics.publish(
        log.contact(contact, wa_id="", user_id="US.4242"),
        log.key_claimed(contact, "bsuid:US.4242"),
        log.conversation(conversation, contact, wa_id="", user_id="US.4242"),
        log.inbound(conversation, "m-1", sent_at=log.now),
    )
    await analytics.projected(log.position)
    clock.now = log.now

    status = await status_of(analytics, "US.4242")

    assert (status.conversation_id, status.window_active) == (str(conversation), True)


async def test_an_unknown_customer_is_not_found(analytics: RunningAnalytics) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await status_of(analytics, "15559999999")

    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert "no customer '15559999999'" in (raised.value.details() or "")


async def test_a_number_the_token_is_not_scoped_to_is_not_found(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    await customer_wrote(analytics, log, sent_at=log.now)
    request = pb.GetSessionStatusRequest(business_number=analytics.business_number, customer=WA_ID)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await analytics.queries.GetSessionStatus(request, metadata=analytics.tenant)

    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def test_the_same_customer_on_another_number_is_another_customer(
    analytics: RunningAnalytics, log: EventLog, clock: FakeClock
) -> None:
    await customer_wrote(analytics, log, sent_at=log.now, number=analytics.other_number)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await status_of(analytics)

    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(("number", "customer"), [("", WA_ID), ("pn-1", "")])
async def test_a_request_without_number_or_customer_is_an_invalid_argument(
    analytics: RunningAnalytics, number: str, customer: str
) -> None:
    request = pb.GetSessionStatusRequest(business_number=number, customer=customer)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await analytics.queries.GetSessionStatus(request, metadata=analytics.reader)

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
