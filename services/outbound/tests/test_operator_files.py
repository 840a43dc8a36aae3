"""An operator's files (issue 11 items 5 and 6) in the dispatcher, with in-memory ports: a file
from the media store is uploaded and sent by its media id, and the parts of one reply go in
order, each a pause after the one before it was accepted."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from threadline.contracts.events.v1 import outbound_pb2
from threadline.media import FilesystemMediaStore, StoredMedia
from threadline.messaging.bus import InMemoryBus
from threadline.messaging.topology import Topology
from threadline.outbound.adapters.outbound.graph_api import ScriptedGraphApi
from threadline.outbound.adapters.outbound.publisher import JetStreamAnnouncements
from threadline.outbound.adapters.outbound.sent_ledger import InMemorySentLedger
from threadline.outbound.application.dispatcher import (
    MessageDispatcher,
    Refused,
    Sent,
    Waiting,
    WillRetry,
)
from threadline.outbound.application.ports import GraphApiError, SentRecord
from threadline.outbound.domain.cloud_api_body import request_body
from threadline.outbound.domain.failure import WhatsAppFailure
from threadline.outbound.domain.outbound_message import (
    MessageContent,
    OutboundMessage,
    Recipient,
    ReplyPlace,
)

PDF = b"%PDF-1.4\n" + b"line\n" * 1000
DISPATCHED = "outbound.events.0.Message.Dispatched"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def a_part(part: int, parts: int, *, media: StoredMedia | None = None) -> OutboundMessage:
    content = MessageContent(type="text", text="Here it is")
    if media is not None:
        content = MessageContent(
            type="document",
            text="Your quote",
            payload_json=json.dumps({"caption": "Your quote", "filename": "quote.pdf"}),
        )
    return OutboundMessage(
        message_id=f"m-{part}",
        conversation_id="c-1",
        phone_number_id="106540352242922",
        recipient=Recipient(wa_id="16505551234"),
        content=content,
        media=media,
        reply=ReplyPlace("r-1", part, parts),
    )


def dispatcher(
    graph: ScriptedGraphApi,
    ledger: InMemorySentLedger,
    bus: InMemoryBus,
    *,
    store: FilesystemMediaStore | None = None,
    clock: Clock | None = None,
    pause: float = 0.0,
) -> MessageDispatcher:
    return MessageDispatcher(
        graph=graph,
        ledger=ledger,
        announcements=JetStreamAnnouncements(bus, Topology()),
        clock=clock or Clock(),
        media_store=store,
        reply_pause=pause,
    )


async def test_a_file_is_uploaded_and_sent_by_its_media_id(tmp_path: Path) -> None:
    store = FilesystemMediaStore(tmp_path)
    kept = await store.put(PDF, content_type="application/pdf", file_name="quote.pdf")
    graph, ledger, bus = ScriptedGraphApi(["wamid.D1"]), InMemorySentLedger(), InMemoryBus()

    result = await dispatcher(graph, ledger, bus, store=store).dispatch(
        a_part(0, 2, media=kept), last_attempt=False
    )

    assert result == Sent("wamid.D1")
    assert graph.uploaded == [("106540352242922", PDF, "application/pdf", "quote.pdf")]
    (_, body) = graph.sent[0]
    assert body["document"] == {"id": "media1", "caption": "Your quote", "filename": "quote.pdf"}
    (published,) = bus.on(DISPATCHED)
    assert outbound_pb2.MessageDispatched.FromString(published.payload).media_id == "media1"
    assert (await ledger.find("m-0")) == SentRecord("wamid.D1", Clock()(), media_id="media1")


async def test_a_file_the_store_no_longer_has_is_refused_without_a_send(tmp_path: Path) -> None:
    gone = StoredMedia(
        location=FilesystemMediaStore(tmp_path).location_of("ab" * 32),
        sha256="ab" * 32,
        size=10,
        content_type="application/pdf",
    )
    graph, ledger, bus = ScriptedGraphApi(), InMemorySentLedger(), InMemoryBus()
    store = FilesystemMediaStore(tmp_path)

    result = await dispatcher(graph, ledger, bus, store=store).dispatch(
        a_part(0, 2, media=gone), last_attempt=False
    )

    assert isinstance(result, Refused) and "not in the media store" in result.failure.message
    assert graph.sent == [] and graph.uploaded == []
    # The next part is not held back by a part that can never go.
    assert await ledger.find(ReplyPlace("r-1", 0, 2).key) is not None


async def test_a_part_waits_for_the_one_before_it_then_for_the_pause() -> None:
    graph, ledger, bus = ScriptedGraphApi(), InMemorySentLedger(), InMemoryBus()
    clock = Clock()
    sending = dispatcher(graph, ledger, bus, clock=clock, pause=0.2)

    early = await sending.dispatch(a_part(1, 2), last_attempt=False)

    assert isinstance(early, Waiting) and graph.sent == []
    await ledger.record(ReplyPlace("r-1", 0, 2).key, SentRecord("", clock.now))
    clock.now += timedelta(seconds=0.15)  # 0.05 s of the pause left: waited, then sent
    assert isinstance(await sending.dispatch(a_part(1, 2), last_attempt=False), Sent)
    assert len(graph.sent) == 1


async def test_a_waiting_part_goes_on_its_last_attempt() -> None:
    graph, ledger, bus = ScriptedGraphApi(), InMemorySentLedger(), InMemoryBus()

    result = await dispatcher(graph, ledger, bus).dispatch(a_part(1, 2), last_attempt=True)

    assert isinstance(result, Sent) and len(graph.sent) == 1


async def test_a_retried_part_holds_the_next_one_back_until_it_is_sent() -> None:
    failure = GraphApiError(WhatsAppFailure(2, "Service temporarily unavailable", retryable=True))
    graph = ScriptedGraphApi([failure, "wamid.T0", "wamid.T1"])
    ledger, bus = InMemorySentLedger(), InMemoryBus()
    sending = dispatcher(graph, ledger, bus)

    first = await sending.dispatch(a_part(0, 2), last_attempt=False)
    second = await sending.dispatch(a_part(1, 2), last_attempt=False)
    again = await sending.dispatch(a_part(0, 2), last_attempt=False)
    then = await sending.dispatch(a_part(1, 2), last_attempt=False)

    assert (isinstance(first, WillRetry), isinstance(second, Waiting)) == (True, True)
    assert (again, then) == (Sent("wamid.T0"), Sent("wamid.T1"))


def test_a_media_message_without_its_upload_cannot_be_expressed() -> None:
    media = StoredMedia(location="file:///x", sha256="ab" * 32, size=1, content_type="image/png")
    message = a_part(0, 1, media=media)
    try:
        request_body(message)
    except ValueError as error:
        assert "not uploaded" in str(error)
    else:
        raise AssertionError("a file is sent by its media id only")
