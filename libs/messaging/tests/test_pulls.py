"""The batch puller over real NATS JetStream: one pull request a batch, a batch as soon as one
message is there, and every message handed out once."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as Nats
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import APIError

from threadline.messaging.pulls import BatchPuller
from threadline.testing import unique_id


@pytest.fixture
async def stream(js: JetStreamContext) -> AsyncIterator[str]:
    name = unique_id("PULLS")
    await js.add_stream(name=name, subjects=[f"{name}.>"])
    await js.add_consumer(
        name, ConsumerConfig(durable_name="reader", ack_policy=AckPolicy.EXPLICIT)
    )
    yield name
    await js.delete_stream(name)


@pytest.fixture
async def puller(js: JetStreamContext, stream: str) -> AsyncIterator[BatchPuller]:
    opened = await BatchPuller.open(js, stream=stream, durable="reader")
    yield opened
    await opened.close()


@pytest.fixture
async def requests(client: Nats, stream: str) -> AsyncIterator[list[dict[str, object]]]:
    """The pull requests sent for the consumer, as NATS relays them to any listener."""
    seen: list[dict[str, object]] = []

    async def heard(message: object) -> None:
        seen.append(json.loads(message.data))  # type: ignore[attr-defined]

    subscription = await client.subscribe(f"$JS.API.CONSUMER.MSG.NEXT.{stream}.reader", cb=heard)
    await client.flush()
    yield seen
    await subscription.unsubscribe()


async def publish(js: JetStreamContext, stream: str, *bodies: bytes) -> None:
    for body in bodies:
        await js.publish(f"{stream}.m", body)


async def test_what_is_ready_comes_in_one_batch_for_one_request(
    js: JetStreamContext,
    stream: str,
    puller: BatchPuller,
    requests: list[dict[str, object]],
    client: Nats,
) -> None:
    await publish(js, stream, *(f"m{i}".encode() for i in range(7)))

    batch = await puller.fetch(50, timeout=2.0)
    await client.flush()

    assert [m.data for m in batch] == [f"m{i}".encode() for i in range(7)]
    assert len(requests) == 1
    assert requests[0]["batch"] == 50 and requests[0]["no_wait"] is True


async def test_a_batch_holds_at_most_its_size_and_the_rest_follows_in_order(
    js: JetStreamContext, stream: str, puller: BatchPuller
) -> None:
    await publish(js, stream, *(f"m{i}".encode() for i in range(10)))

    sizes = []
    received: list[bytes] = []
    while len(received) < 10:
        batch = await puller.fetch(4, timeout=2.0)
        sizes.append(len(batch))
        received += [m.data for m in batch]
        for message in batch:
            await message.ack()

    assert sizes == [4, 4, 2]
    assert received == [f"m{i}".encode() for i in range(10)]


async def test_a_message_published_while_waiting_is_handed_out_at_once(
    js: JetStreamContext, stream: str, puller: BatchPuller
) -> None:
    fetching = asyncio.create_task(puller.fetch(50, timeout=5.0))
    await asyncio.sleep(0.2)
    published = time.monotonic()
    await publish(js, stream, b"late")

    batch = await fetching

    assert [m.data for m in batch] == [b"late"]
    assert time.monotonic() - published < 1.0  # not the request's 5 s


async def test_nothing_there_times_out_after_the_timeout(puller: BatchPuller) -> None:
    started = time.monotonic()

    with pytest.raises(NatsTimeoutError):
        await puller.fetch(50, timeout=0.3)

    assert 0.25 < time.monotonic() - started < 1.5


async def test_an_earlier_requests_end_does_not_end_the_current_one(
    js: JetStreamContext, stream: str, puller: BatchPuller, client: Nats
) -> None:
    with pytest.raises(NatsTimeoutError):
        await puller.fetch(50, timeout=0.2)  # request 1, ended by the server
    fetching = asyncio.create_task(puller.fetch(50, timeout=5.0))  # request 2
    await asyncio.sleep(0.1)
    # A status for request 1 arriving now, as a late one would.
    await client.publish(f"{puller._inbox}.1", b"", headers={"Status": "404"})
    await client.flush()
    await asyncio.sleep(0.1)
    assert not fetching.done()

    await publish(js, stream, b"after")

    assert [m.data for m in await fetching] == [b"after"]


async def test_a_refused_request_raises_the_servers_error(
    js: JetStreamContext, stream: str, client: Nats
) -> None:
    puller = await BatchPuller.open(js, stream=stream, durable="reader")
    fetching = asyncio.create_task(puller.fetch(50, timeout=5.0))
    await asyncio.sleep(0.1)
    await client.publish(
        f"{puller._inbox}.1", b"", headers={"Status": "409", "Description": "Consumer Deleted"}
    )

    with pytest.raises(APIError):
        await fetching
    await puller.close()


async def test_a_message_that_came_after_its_request_was_given_up_is_not_lost(
    puller: BatchPuller, client: Nats, requests: list[dict[str, object]]
) -> None:
    # A delivery for an earlier request (JetStream's carry an ack subject as their reply),
    # arriving when no fetch is waiting.
    await client.publish(f"{puller._inbox}.7", b"kept", reply="an-ack-subject")
    await client.flush()
    await asyncio.sleep(0.1)

    batch = await puller.fetch(50, timeout=2.0)
    await client.flush()

    assert [m.data for m in batch] == [b"kept"]
    assert requests == []  # handed out without asking the server


async def test_a_batch_holds_at_most_its_bytes_and_the_rest_follows_in_order(
    js: JetStreamContext, stream: str, puller: BatchPuller
) -> None:
    bodies = [bytes([65 + i]) * 300_000 for i in range(5)]
    await publish(js, stream, *bodies)

    sizes = []
    received: list[bytes] = []
    while len(received) < 5:
        batch = await puller.fetch(50, timeout=2.0, max_bytes=1_000_000)
        sizes.append(len(batch))
        received += [m.data for m in batch]
        for message in batch:
            await message.ack()

    assert received == bodies
    assert max(sizes) == 3  # four of 300 kB would pass 1 MB
