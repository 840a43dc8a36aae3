"""The typing indicator the AI responder asks for, over real NATS JetStream: what outbound's
`outbound-typing` consumer reads, once per request id."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import nats
import pytest
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg

from threadline.ai_responder.adapters.outbound.typing import JetStreamTypingIndicator
from threadline.contracts.events.v1 import ai_pb2
from threadline.messaging.bus import JetStreamBus
from threadline.messaging.topology import AI_EVENTS, OUTBOUND_TYPING, Topology, ensure_streams
from threadline.testing.subjects import subject_matches

AT = datetime(2026, 11, 21, 12, 0, 3, 250000, tzinfo=UTC)
WAMID = "wamid.HBgLMTU1NTAxMjM0NTYVAgASGBQ1QzZBMjBEQUVGMTBBOTg3QjREMQA="


@pytest.fixture
async def js(nats_server_url: str) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_server_url)
    yield nc.jetstream()
    await nc.drain()


@pytest.fixture
async def topology(js: JetStreamContext, nats_namespace: str) -> AsyncIterator[Topology]:
    topology = Topology(nats_namespace)
    await ensure_streams(js, topology)
    yield topology
    for stream in topology.stream_configs():
        await js.delete_stream(stream.name or "")


async def on_ai_events(js: JetStreamContext, topology: Topology) -> list[RawStreamMsg]:
    stream = topology.stream(AI_EVENTS)
    state = (await js.stream_info(stream)).state
    if not state.messages:
        return []
    return [
        await js.get_msg(stream, seq=sequence)
        for sequence in range(state.first_seq, state.last_seq + 1)
    ]


async def show_typing(indicator: JetStreamTypingIndicator, request_id: str) -> None:
    await indicator.show_typing(
        request_id=request_id,
        conversation_id="conversation-1",
        phone_number_id="109000000000001",
        wamid=WAMID,
        at=AT,
    )


async def test_the_request_is_published_where_outbound_typing_reads_it(
    js: JetStreamContext, topology: Topology
) -> None:
    indicator = JetStreamTypingIndicator(JetStreamBus(js), topology)

    await show_typing(indicator, "typing-conversation-1-1")

    [published] = await on_ai_events(js, topology)
    assert subject_matches(topology.filter_subject(OUTBOUND_TYPING), published.subject or "")
    assert (published.headers or {})["Nats-Msg-Id"] == "typing-conversation-1-1"
    assert ai_pb2.TypingIndicatorRequested.FromString(published.data) == (
        ai_pb2.TypingIndicatorRequested(
            request_id="typing-conversation-1-1",
            conversation_id="conversation-1",
            phone_number_id="109000000000001",
            wamid=WAMID,
            requested_at={"seconds": int(AT.timestamp()), "nanos": 250_000_000},
        )
    )


async def test_asking_again_with_the_same_request_id_publishes_once(
    js: JetStreamContext, topology: Topology
) -> None:
    indicator = JetStreamTypingIndicator(JetStreamBus(js), topology)

    await show_typing(indicator, "typing-conversation-1-1")
    await show_typing(indicator, "typing-conversation-1-1")
    await show_typing(indicator, "typing-conversation-1-2")

    published = await on_ai_events(js, topology)
    assert [(m.headers or {})["Nats-Msg-Id"] for m in published] == [
        "typing-conversation-1-1",
        "typing-conversation-1-2",
    ]
