"""The customer service window: 24 h after the latest customer message, 72 h after a free entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from threadline.rules.window import CustomerServiceWindow

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_no_customer_message_no_window() -> None:
    window = CustomerServiceWindow.of(last_inbound_at=None)
    assert window.closes_at is None
    assert not window.is_open(T0)
    assert window.remaining_minutes(T0) == 0


def test_open_for_24_hours_after_the_latest_customer_message() -> None:
    window = CustomerServiceWindow.of(last_inbound_at=T0)
    assert window.closes_at == T0 + timedelta(hours=24)
    assert window.is_open(T0 + timedelta(hours=23, minutes=59))
    assert not window.is_open(T0 + timedelta(hours=24))
    assert window.remaining_minutes(T0 + timedelta(hours=23, seconds=30)) == 59


def test_a_free_entry_keeps_it_open_for_72_hours_when_that_is_later() -> None:
    until = CustomerServiceWindow.free_entry_closes_at(T0)
    window = CustomerServiceWindow.of(last_inbound_at=T0, free_entry_until=until)
    assert window.closes_at == T0 + timedelta(hours=72)
    assert window.is_open(T0 + timedelta(hours=71))
    later_message = CustomerServiceWindow.of(
        last_inbound_at=T0 + timedelta(hours=60), free_entry_until=until
    )
    assert later_message.closes_at == T0 + timedelta(hours=84)


def test_a_closed_conversation_has_no_open_window() -> None:
    for status in ("completed", "abandoned"):
        window = CustomerServiceWindow.of(last_inbound_at=T0, conversation_status=status)
        assert window.closes_at == T0 + timedelta(hours=24)
        assert not window.is_open(T0 + timedelta(minutes=1))
    assert CustomerServiceWindow.of(last_inbound_at=T0, conversation_status="escalated").is_open(
        T0 + timedelta(minutes=1)
    )


def test_times_near_the_end_of_the_calendar_saturate() -> None:
    edge = datetime.max.replace(tzinfo=UTC) - timedelta(hours=1)
    window = CustomerServiceWindow.of(last_inbound_at=edge)
    assert window.closes_at == datetime.max.replace(tzinfo=UTC)
    assert window.is_open(edge)
