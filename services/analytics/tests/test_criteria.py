from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from threadline.analytics.domain.read.criteria import (
    ConversationFilter,
    CustomerRef,
    MessageWindow,
    Paging,
)
from threadline.analytics.domain.read.errors import InvalidQuery


def test_an_unset_page_and_size_mean_the_first_page_of_twenty() -> None:
    paging = Paging.of(0, 0)

    assert (paging.page, paging.size, paging.offset) == (1, 20, 0)


def test_the_offset_skips_the_earlier_pages() -> None:
    assert Paging.of(3, 25).offset == 50


@pytest.mark.parametrize(("page", "size"), [(-1, 20), (1, -1), (1, 101)])
def test_a_page_out_of_range_is_refused_naming_the_argument(page: int, size: int) -> None:
    with pytest.raises(InvalidQuery, match="page" if page < 0 else "size"):
        Paging.of(page, size)


def test_an_unset_message_limit_means_one_hundred() -> None:
    assert MessageWindow.of(0, 0) == MessageWindow(limit=100, offset=0)


@pytest.mark.parametrize(("limit", "offset"), [(501, 0), (-1, 0), (10, -1)])
def test_a_message_window_out_of_range_is_refused(limit: int, offset: int) -> None:
    with pytest.raises(InvalidQuery, match="offset" if offset < 0 else "limit"):
        MessageWindow.of(limit, offset)


def test_a_customer_phone_is_compared_as_a_wa_id() -> None:
    criteria = ConversationFilter.of(customer_phone="+44 (7700) 900-123")

    assert criteria.customer_phone == "447700900123"


def test_a_customer_phone_without_digits_is_refused() -> None:
    with pytest.raises(InvalidQuery, match="customer_phone"):
        ConversationFilter.of(customer_phone="ana")


def test_a_malformed_lead_id_is_refused() -> None:
    with pytest.raises(InvalidQuery, match="lead_id must be a UUID"):
        ConversationFilter.of(lead_id="lead-7")


def test_only_the_filters_given_are_conditions() -> None:
    lead = uuid4()

    criteria = ConversationFilter.of(lead_id=str(lead), status=" active ")

    assert criteria.conditions() == {"lead_id": lead, "status": "active"}


def test_dates_bound_the_listing_from_inclusive_to_exclusive() -> None:
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)

    criteria = ConversationFilter.of(created_from=start, last_message_to=end, assistant=" m-1 ")

    assert criteria.conditions() == {
        "assistant": "m-1",
        "created_from": start,
        "last_message_to": end,
    }


def range_of(bound: str, start: datetime, end: datetime) -> dict[str, Any]:
    return {f"{bound}_from": start, f"{bound}_to": end}


@pytest.mark.parametrize("bound", ["created", "last_message"])
def test_a_range_that_ends_before_it_starts_is_refused_naming_it(bound: str) -> None:
    start, end = datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)

    with pytest.raises(InvalidQuery, match=f"{bound}_from must be before {bound}_to"):
        ConversationFilter.of(**range_of(bound, start, end))


def test_an_empty_range_is_refused() -> None:
    moment = datetime(2026, 2, 1, tzinfo=UTC)

    with pytest.raises(InvalidQuery, match="created_from must be before created_to"):
        ConversationFilter.of(created_from=moment, created_to=moment)


@pytest.mark.parametrize("customer", ["+1 (555) 000-1111", "15550001111"])
def test_a_customer_written_as_a_phone_number_is_a_wa_id(customer: str) -> None:
    ref = CustomerRef.of("pn-1", customer)

    assert (ref.wa_id, ref.user_id, ref.key) == ("15550001111", "", "wa:15550001111")


def test_any_other_customer_id_is_a_business_scoped_user_id() -> None:
    ref = CustomerRef.of("pn-1", " US.13491208655302741918 ")

    assert (ref.wa_id, ref.user_id) == ("", "US.13491208655302741918")
    assert ref.key == "bsuid:US.13491208655302741918"


@pytest.mark.parametrize(("number", "customer"), [("", "1555"), ("pn-1", " ")])
def test_a_session_status_needs_a_number_and_a_customer(number: str, customer: str) -> None:
    with pytest.raises(InvalidQuery, match="business_number" if not number else "customer"):
        CustomerRef.of(number, customer)
