import asyncio
import re

import pytest

from threadline.testing import eventually, unique_id


def test_unique_id_appends_fresh_hex_digits_to_the_prefix() -> None:
    first, second = unique_id("order-"), unique_id("order-")

    assert re.fullmatch(r"order-[0-9a-f]{10}", first)
    assert first != second


async def test_eventually_returns_once_a_sync_predicate_holds() -> None:
    calls: list[int] = []

    def third_call() -> bool:
        calls.append(1)
        return len(calls) >= 3

    await eventually(third_call, interval=0.001)

    assert len(calls) == 3


async def test_eventually_awaits_an_async_predicate() -> None:
    done = asyncio.Event()
    asyncio.get_running_loop().call_later(0.02, done.set)

    async def is_done() -> bool:
        return done.is_set()

    await eventually(is_done, timeout=2)


async def test_eventually_fails_with_the_predicates_name_after_the_timeout() -> None:
    def never() -> bool:
        return False

    with pytest.raises(AssertionError, match=r"never was still false after 0.05s"):
        await eventually(never, timeout=0.05, interval=0.01)


async def test_eventually_reports_the_last_assertion_of_the_predicate() -> None:
    balance = 7

    def balance_is_ten() -> bool:
        assert balance == 10, f"balance is {balance}"
        return True

    with pytest.raises(AssertionError, match="balance is 7"):
        await eventually(balance_is_ten, timeout=0.05, interval=0.01)
