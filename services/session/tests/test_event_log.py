"""`EventLog` over gRPC on real PostgreSQL: ReadAll, ReadAllPages and ReadStream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from uuid import uuid4

import grpc
import pytest
from eventsourcing.persistence import IntegrityError

from threadline.contracts.events.v1 import session_pb2 as events_pb
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.servicekit.auth import TokenRegistry, hash_token
from threadline.servicekit.grpc_kit import Registration, start_grpc_server
from threadline.session.adapters.inbound.grpc_api import ERRORS, EventLogServicer
from threadline.session.application.conversations import Conversations
from threadline.session.domain.business_number import BusinessNumber
from threadline.session.domain.conversation import Conversation

EveryEventType = Callable[..., None]
TOKENS = {"reader": "read:*", "scoped": "read:pn-every", "other": "read:pn-7", "writer": "write:*"}


def auth(token: str = "reader") -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


@pytest.fixture
def store(postgres_app: Callable[..., Conversations]) -> Conversations:
    return postgres_app()


@pytest.fixture
async def log(store: Conversations) -> AsyncIterator[pb_grpc.EventLogStub]:
    tokens = ";".join(f"{hash_token(name)}:{grant}" for name, grant in TOKENS.items())
    server, port = await start_grpc_server(
        host="127.0.0.1",
        port=0,
        tokens=TokenRegistry.parse(tokens),
        errors=ERRORS,
        registrations=[
            Registration(
                pb_grpc.add_EventLogServicer_to_server,
                EventLogServicer(store),
                "threadline.session.v1.EventLog",
            )
        ],
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield pb_grpc.EventLogStub(channel)
    await server.stop(None)


def conversation_with(store: Conversations, messages: int) -> Conversation:
    """A conversation of `messages` + 1 events, saved in one transaction."""
    talk = Conversation(
        contact_id=uuid4(),
        phone_number_id="pn-many",
        customer_wa_id="1555",
        customer_user_id="",
        customer_name="Bo",
        session_key="k",
    )
    at = datetime(2026, 3, 1, tzinfo=UTC)
    for n in range(messages):
        talk.receive_customer_message(
            message_id=uuid4(), wamid=f"w{n}", content={"type": "text", "text": "hi"}, sent_at=at
        )
    store.save(talk)
    return talk


async def read_all(log: pb_grpc.EventLogStub, **request: int) -> list[events_pb.SessionEvent]:
    return [e async for e in log.ReadAll(pb.ReadAllRequest(**request), metadata=auth())]


async def pages(
    log: pb_grpc.EventLogStub, token: str = "reader", **request: int
) -> list[list[events_pb.SessionEvent]]:
    call = log.ReadAllPages(pb.ReadAllPagesRequest(**request), metadata=auth(token))
    return [list(page.events) async for page in call]


async def test_pages_carry_the_log_in_order_full_but_the_last(
    store: Conversations, log: pb_grpc.EventLogStub, every_event_type: EveryEventType
) -> None:
    every_event_type(store)
    everything = await read_all(log)

    paged = await pages(log, page_size=5)

    assert [len(p) for p in paged[:-1]] == [5] * (len(paged) - 1)
    assert 0 < len(paged[-1]) <= 5
    assert [e for p in paged for e in p] == everything
    assert [e.position for e in everything] == sorted({e.position for e in everything})


async def test_pages_start_at_a_position_and_a_limit_cuts_the_last_one(
    store: Conversations, log: pb_grpc.EventLogStub, every_event_type: EveryEventType
) -> None:
    every_event_type(store)
    everything = await read_all(log)
    start = everything[3].position

    paged = await pages(log, from_position=start, limit=12, page_size=5)

    assert [len(p) for p in paged] == [5, 5, 2]
    assert [e for p in paged for e in p] == everything[3:15]
    assert await read_all(log, from_position=start, limit=12) == everything[3:15]


async def test_a_page_holds_a_thousand_events_unless_asked_otherwise(
    store: Conversations, log: pb_grpc.EventLogStub
) -> None:
    conversation_with(store, 1099)

    assert [len(p) for p in await pages(log)] == [1000, 100]
    assert [len(p) for p in await pages(log, page_size=5000)] == [1100]
    assert [len(p) for p in await pages(log, limit=1000)] == [1000]
    assert [len(p) for p in await pages(log, from_position=1001)] == [100]


async def test_pages_stay_full_across_gaps_in_positions(
    store: Conversations, log: pb_grpc.EventLogStub
) -> None:
    store.save(BusinessNumber("pn-gap"))
    with pytest.raises(IntegrityError):  # the same aggregate again: its position is lost
        store.save(BusinessNumber("pn-gap"))
    conversation_with(store, 6)

    paged = await pages(log, page_size=4)

    positions = [e.position for p in paged for e in p]
    assert [len(p) for p in paged] == [4, 4]
    assert positions[-1] - positions[0] > len(positions) - 1  # a gap was crossed


async def test_a_page_says_whether_a_string_of_its_events_may_hold_nul(
    store: Conversations, log: pb_grpc.EventLogStub
) -> None:
    """`nul_free` spares a reader searching every string: true only when no state holds NUL
    (a text with a backslash before `u0000` merely makes it false)."""
    talk = conversation_with(store, 3)  # 4 events: started, then 3 customer messages
    at = datetime(2026, 3, 1, tzinfo=UTC)
    for text in ("a\x00b", "a\\u0000b"):
        talk.receive_customer_message(
            message_id=uuid4(), wamid=text, content={"type": "text", "text": text}, sent_at=at
        )
    store.save(talk)

    call = log.ReadAllPages(pb.ReadAllPagesRequest(page_size=1), metadata=auth())
    paged = [
        (page.nul_free, [e.customer_message_received.content.text for e in page.events])
        async for page in call
    ]

    assert [nul_free for nul_free, _ in paged] == [True, True, True, True, False, False]
    # The events as stored: replacing NUL is the reader's business.
    assert paged[4:] == [(False, ["a\x00b"]), (False, ["a\\u0000b"])]


async def test_an_empty_log_sends_no_pages(log: pb_grpc.EventLogStub) -> None:
    assert await pages(log) == []
    assert await read_all(log) == []


async def test_a_page_size_over_5000_is_refused(log: pb_grpc.EventLogStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await pages(log, page_size=5001)

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "page_size may be at most 5000, got 5001" in (refused.value.details() or "")


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("nobody", grpc.StatusCode.UNAUTHENTICATED),
        ("scoped", grpc.StatusCode.PERMISSION_DENIED),  # not every number
        ("writer", grpc.StatusCode.PERMISSION_DENIED),  # no read role
    ],
)
async def test_reading_pages_needs_the_read_role_and_every_number(
    store: Conversations,
    log: pb_grpc.EventLogStub,
    every_event_type: EveryEventType,
    token: str,
    code: grpc.StatusCode,
) -> None:
    every_event_type(store)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await pages(log, token)

    assert refused.value.code() == code


async def test_a_stream_reads_with_the_positions_of_the_whole_log(
    store: Conversations, log: pb_grpc.EventLogStub, every_event_type: EveryEventType
) -> None:
    every_event_type(store)
    conversation_with(store, 3)  # another stream after it
    everything = await read_all(log)
    talk = next(e.aggregate_id for e in everything if e.HasField("conversation_started"))

    stream = [
        e
        async for e in log.ReadStream(pb.ReadStreamRequest(stream_id=talk), metadata=auth("scoped"))
    ]

    assert stream == [e for e in everything if e.aggregate_id == talk]
    assert [e.aggregate_version for e in stream] == list(range(1, len(stream) + 1))
    assert all(e.position > 0 for e in stream)


@pytest.mark.parametrize("token", ["reader", "other"])
async def test_an_unknown_or_unseen_stream_is_not_found(
    store: Conversations,
    log: pb_grpc.EventLogStub,
    every_event_type: EveryEventType,
    token: str,
) -> None:
    every_event_type(store)
    everything = await read_all(log)
    talk = next(e.aggregate_id for e in everything if e.HasField("conversation_started"))
    # The reader knows every number but not this id; the other token not this number.
    stream_id = str(uuid4()) if token == "reader" else talk

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        _ = [
            e
            async for e in log.ReadStream(
                pb.ReadStreamRequest(stream_id=stream_id), metadata=auth(token)
            )
        ]

    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
