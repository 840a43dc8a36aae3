"""The test chat in outbound (issue 13 item 4): a message to a tester never reaches the Graph
API; it is kept in the ledger and announced as dispatched under the test chat's own wamid, and
its statuses sent, delivered and read are reported where ingest reports WhatsApp's. A typing
indicator for a tester's message calls nothing either."""

from __future__ import annotations

from datetime import UTC, datetime

from threadline.contracts.events.v1 import ingest_pb2, outbound_pb2
from threadline.messaging.bus import InMemoryBus
from threadline.messaging.topology import Topology
from threadline.outbound.adapters.outbound.graph_api import ScriptedGraphApi
from threadline.outbound.adapters.outbound.publisher import JetStreamAnnouncements
from threadline.outbound.adapters.outbound.sent_ledger import InMemorySentLedger
from threadline.outbound.application.dispatcher import MessageDispatcher, Sent
from threadline.outbound.application.typing_indicators import Shown, TypingIndicators
from threadline.outbound.domain.outbound_message import MessageContent, OutboundMessage, Recipient
from threadline.outbound.domain.typing_indicator import TypingIndicatorRequest

NUMBER = "106540352242922"
STATUSES = f"ingest.events.0.{NUMBER}.MessageStatusReported"
SENT_AT = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)


def to_tester(message_id: str = "m-1") -> OutboundMessage:
    return OutboundMessage(
        message_id=message_id,
        conversation_id="c-1",
        phone_number_id=NUMBER,
        recipient=Recipient(user_id="test:Marta"),
        content=MessageContent(type="text", text="Hello"),
    )


def dispatcher(
    graph: ScriptedGraphApi, bus: InMemoryBus, ledger: InMemorySentLedger
) -> MessageDispatcher:
    return MessageDispatcher(
        graph=graph,
        ledger=ledger,
        announcements=JetStreamAnnouncements(bus, Topology()),
        clock=lambda: SENT_AT,
    )


async def test_a_message_to_a_tester_is_not_sent_and_reads_as_read() -> None:
    graph, bus, ledger = ScriptedGraphApi(), InMemoryBus(), InMemorySentLedger()
    message = to_tester()

    result = await dispatcher(graph, bus, ledger).dispatch(message, last_attempt=False)

    wamid = f"wamid.test.{message.message_id}"
    assert result == Sent(wamid)
    assert graph.sent == [] and graph.uploaded == []
    [dispatched] = bus.on("outbound.events.0.Message.Dispatched")
    assert outbound_pb2.MessageDispatched.FromString(dispatched.payload).wamid == wamid
    reports = [ingest_pb2.MessageStatusReported.FromString(p.payload) for p in bus.on(STATUSES)]
    assert [(r.wamid, r.status, r.recipient.user_id) for r in reports] == [
        (wamid, status, "test:Marta") for status in ("sent", "delivered", "read")
    ]
    assert {r.reported_at.ToDatetime(tzinfo=UTC) for r in reports} == {SENT_AT}
    assert [p.headers["Nats-Msg-Id"] for p in bus.on(STATUSES)] == [
        f"{wamid}:{status}" for status in ("sent", "delivered", "read")
    ]
    recorded = await ledger.find(message.message_id)
    assert recorded is not None and recorded.wamid == wamid


async def test_a_redelivered_message_to_a_tester_reports_the_same_statuses_again() -> None:
    graph, ledger = ScriptedGraphApi(), InMemorySentLedger()
    message = to_tester()
    first, second = InMemoryBus(), InMemoryBus()
    await dispatcher(graph, first, ledger).dispatch(message, last_attempt=False)

    result = await dispatcher(graph, second, ledger).dispatch(message, last_attempt=False)

    assert result == Sent(f"wamid.test.{message.message_id}", already_sent=True)
    assert [p.payload for p in second.on(STATUSES)] == [p.payload for p in first.on(STATUSES)]
    assert graph.sent == []


async def test_a_typing_indicator_for_a_testers_message_calls_no_graph_api() -> None:
    graph = ScriptedGraphApi()
    now = SENT_AT
    request = TypingIndicatorRequest(
        request_id="r-1",
        conversation_id="c-1",
        phone_number_id=NUMBER,
        wamid="wamid.test.9b2c",
        requested_at=now,
    )

    result = await TypingIndicators(graph=graph, clock=lambda: now).show(request)

    assert result == Shown()
    assert graph.marked_read == []
