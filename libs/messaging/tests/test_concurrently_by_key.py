"""`concurrently_by_key`: different keys at once, one key in order, failures settled alone."""

from __future__ import annotations

import asyncio

import pytest

from threadline.messaging.consumer import (
    ACK,
    DeadLetter,
    Delivery,
    Settlement,
    Unavailable,
    concurrently_by_key,
)


def delivery(key: str, n: int) -> Delivery:
    return Delivery(
        subject=key, data=str(n).encode(), headers={}, stream_sequence=n, num_delivered=1
    )


def by_subject(d: Delivery) -> str:
    return d.subject


async def test_one_key_in_order_different_keys_at_once() -> None:
    events: list[str] = []
    running = 0
    most = 0

    async def handler(d: Delivery) -> Settlement:
        nonlocal running, most
        running += 1
        most = max(most, running)
        events.append(f"start {d.subject}{d.data.decode()}")
        await asyncio.sleep(0.01)
        events.append(f"end {d.subject}{d.data.decode()}")
        running -= 1
        return ACK

    batch = [delivery("a", 1), delivery("b", 2), delivery("a", 3), delivery("c", 4)]
    settled = await concurrently_by_key(handler, key_of=by_subject, limit=8)(batch)

    assert settled == [ACK] * 4
    assert most == 3  # a, b and c at once
    assert events.index("end a1") < events.index("start a3")  # a's messages in order


async def test_the_limit_bounds_how_many_run_at_once() -> None:
    running = 0
    most = 0

    async def handler(d: Delivery) -> Settlement:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1
        return ACK

    batch = [delivery(f"k{n}", n) for n in range(10)]
    await concurrently_by_key(handler, key_of=by_subject, limit=3)(batch)
    assert most == 3


async def test_a_failing_message_is_settled_alone() -> None:
    async def handler(d: Delivery) -> Settlement:
        if d.subject == "bad":
            raise ValueError("no such thing")
        return ACK

    batch = [delivery("ok", 1), delivery("bad", 2), delivery("ok", 3)]
    settled = await concurrently_by_key(handler, key_of=by_subject, limit=4)(batch)
    assert settled[0] == ACK and settled[2] == ACK
    assert isinstance(settled[1], DeadLetter)


async def test_an_unavailable_dependency_fails_the_batch_so_the_loop_waits() -> None:
    async def handler(d: Delivery) -> Settlement:
        if d.subject == "b":
            raise ConnectionRefusedError("session is down")
        return ACK

    with pytest.raises(Unavailable):
        await concurrently_by_key(handler, key_of=by_subject, limit=4)(
            [delivery("a", 1), delivery("b", 2)]
        )
