"""NATS JetStream for the messaging tests: a connection, and the streams under a namespace."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import nats
import pytest
from nats.aio.client import Client as Nats
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg

from threadline.messaging.topology import DEAD_LETTERS, Topology, ensure_streams
from threadline.testing import eventually


@pytest.fixture
async def client(nats_server_url: str) -> AsyncIterator[Nats]:
    connection = await nats.connect(nats_server_url)
    yield connection
    await connection.drain()


@pytest.fixture
async def topology(client: Nats, nats_namespace: str) -> AsyncIterator[Topology]:
    """The streams under the test's own namespace, deleted after the test."""
    topology = Topology(nats_namespace)
    js = client.jetstream()
    await ensure_streams(js, topology)
    yield topology
    for config in topology.stream_configs():
        with contextlib.suppress(Exception):
            await js.delete_stream(config.name or "")


@pytest.fixture
def js(client: Nats) -> JetStreamContext:
    return client.jetstream()


async def read_stream(js: JetStreamContext, stream: str) -> list[RawStreamMsg]:
    """Every message a stream holds, in order."""
    info = await js.stream_info(stream)
    found = []
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            found.append(await js.get_msg(stream, sequence))
        except Exception:
            continue
    return found


DeadLetters = Callable[[], Awaitable[list[RawStreamMsg]]]


@pytest.fixture
def dead_letters(js: JetStreamContext, topology: Topology) -> DeadLetters:
    """What DEAD_LETTERS holds now."""

    async def read() -> list[RawStreamMsg]:
        try:
            return await read_stream(js, topology.stream(DEAD_LETTERS))
        except NatsTimeoutError:
            return []

    return read


@pytest.fixture
def dead_lettered(dead_letters: DeadLetters) -> Callable[[int], Awaitable[list[RawStreamMsg]]]:
    """Wait until DEAD_LETTERS holds `count` messages; those messages."""

    async def wait(count: int) -> list[RawStreamMsg]:
        found: list[RawStreamMsg] = []

        async def arrived() -> bool:
            found[:] = await dead_letters()
            return len(found) >= count

        await eventually(arrived)
        return found

    return wait
