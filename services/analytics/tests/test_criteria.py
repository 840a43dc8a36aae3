from __future__ import annotations

from uuid import uuid4

import pytest

from threadline.analytics.criteria import ConversationFilter, MessageWindow, Paging
from threadline.analytics.errors import InvalidQuery


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
