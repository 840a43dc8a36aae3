from __future__ import annotations

from datetime import UTC, datetime, timedelta

from threadline.analytics.domain.read.window import customer_window

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_the_window_is_open_for_24_hours_after_the_last_customer_message() -> None:
    window = customer_window(
        last_inbound_at=NOW - timedelta(hours=23, minutes=30, seconds=20),
        free_entry_until=None,
        conversation_status="active",
        now=NOW,
    )

    assert window.active
    assert window.expires_at == NOW + timedelta(minutes=29, seconds=40)
    assert window.remaining_minutes == 29


def test_the_window_is_closed_at_exactly_24_hours() -> None:
    window = customer_window(
        last_inbound_at=NOW - timedelta(hours=24),
        free_entry_until=None,
        conversation_status="active",
        now=NOW,
    )

    assert (window.active, window.remaining_minutes) == (False, 0)
    assert window.expires_at == NOW


def test_a_later_free_entry_deadline_keeps_the_window_open() -> None:
    window = customer_window(
        last_inbound_at=NOW - timedelta(hours=30),
        free_entry_until=NOW + timedelta(hours=42),
        conversation_status="escalated",
        now=NOW,
    )

    assert (window.active, window.expires_at) == (True, NOW + timedelta(hours=42))
    assert window.remaining_minutes == 42 * 60


def test_a_conversation_without_customer_messages_has_no_window() -> None:
    window = customer_window(
        last_inbound_at=None, free_entry_until=None, conversation_status="active", now=NOW
    )

    assert (window.active, window.expires_at, window.remaining_minutes) == (False, None, 0)


def test_a_closed_conversation_takes_no_free_form_message_even_within_24_hours() -> None:
    window = customer_window(
        last_inbound_at=NOW - timedelta(hours=1),
        free_entry_until=None,
        conversation_status="completed",
        now=NOW,
    )

    assert (window.active, window.expires_at) == (False, NOW + timedelta(hours=23))


def test_a_time_near_the_end_of_the_calendar_saturates_instead_of_failing() -> None:
    # Issue 8: "timestamp": "253402300799" made session-status answer 500 (overflow).
    last = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    window = customer_window(
        last_inbound_at=last, free_entry_until=None, conversation_status="active", now=NOW
    )

    assert window.active
    assert window.expires_at == datetime.max.replace(tzinfo=UTC)
