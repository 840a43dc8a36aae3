import uuid
from datetime import UTC, datetime

import nats.errors

from threadline.contracts.events.v1 import outbound_pb2
from threadline.messaging.bus import InMemoryBus
from threadline.messaging.failures import Backoff
from threadline.messaging.topology import Topology
from threadline.outbound.adapters.outbound.graph_api import ScriptedGraphApi
from threadline.outbound.adapters.outbound.publisher import JetStreamAnnouncements
from threadline.outbound.adapters.outbound.sent_ledger import InMemorySentLedger
from threadline.outbound.application.dispatcher import (
    GaveUp,
    MessageDispatcher,
    Refused,
    Sent,
    WillRetry,
)
from threadline.outbound.application.ports import GraphApiError, GraphApiThrottled, SentRecord
from threadline.outbound.domain.failure import WhatsAppFailure
from threadline.outbound.domain.outbound_message import MessageContent, OutboundMessage, Recipient
from threadline.outbound.domain.pacing import Pacer, PacingSettings, ThrottleScope

SENT_AT = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)
DISPATCHED = "outbound.events.0.Message.Dispatched"
FAILED = "outbound.events.0.Message.DispatchFailed"


def a_message(**changes: object) -> OutboundMessage:
    fields: dict[str, object] = {
        "message_id": f"m-{uuid.uuid4()}",
        "conversation_id": f"c-{uuid.uuid4()}",
        "phone_number_id": "106540352242922",
        "recipient": Recipient(wa_id="16505551234"),
        "content": MessageContent(type="text", text="Hello"),
    }
    return OutboundMessage(**{**fields, **changes})  # type: ignore[arg-type]


def dispatcher(
    graph: ScriptedGraphApi,
    bus: InMemoryBus,
    ledger: InMemorySentLedger | None = None,
    pacer: Pacer | None = None,
) -> MessageDispatcher:
    return MessageDispatcher(
        graph=graph,
        ledger=ledger if ledger is not None else InMemorySentLedger(),
        announcements=JetStreamAnnouncements(bus, Topology()),
        clock=lambda: SENT_AT,
        remember_for=0.05,  # a ledger that stays broken is given up on quickly here
        remember_backoff=Backoff(first=0.001, limit=0.002),
        pacer=pacer,
    )


def refusal(code: int, *, retryable: bool) -> GraphApiError:
    return GraphApiError(WhatsAppFailure(code, f"error {code}", retryable=retryable))


async def test_sent_message_is_announced_with_its_wamid() -> None:
    graph, bus, message = ScriptedGraphApi(["wamid.A1"]), InMemoryBus(), a_message()

    result = await dispatcher(graph, bus).dispatch(message, last_attempt=False)

    assert result == Sent("wamid.A1")
    [published] = bus.on(DISPATCHED)
    event = outbound_pb2.MessageDispatched.FromString(published.payload)
    assert (event.message_id, event.conversation_id, event.wamid) == (
        message.message_id,
        message.conversation_id,
        "wamid.A1",
    )
    assert event.dispatched_at.ToDatetime(tzinfo=UTC) == SENT_AT
    assert published.headers["Nats-Msg-Id"] == f"{message.message_id}:dispatched"


async def test_message_already_sent_is_not_sent_again_but_announced_again() -> None:
    graph, message = ScriptedGraphApi(["wamid.B1"]), a_message()
    ledger, first_bus, second_bus = InMemorySentLedger(), InMemoryBus(), InMemoryBus()
    await dispatcher(graph, first_bus, ledger).dispatch(message, last_attempt=False)

    result = await dispatcher(graph, second_bus, ledger).dispatch(message, last_attempt=False)

    assert result == Sent("wamid.B1", already_sent=True)
    assert len(graph.sent) == 1
    assert second_bus.on(DISPATCHED)[0].payload == first_bus.on(DISPATCHED)[0].payload


async def test_permanent_refusal_is_announced_as_failed() -> None:
    graph, bus, message = (
        ScriptedGraphApi([refusal(131026, retryable=False)]),
        InMemoryBus(),
        a_message(),
    )

    result = await dispatcher(graph, bus).dispatch(message, last_attempt=False)

    assert isinstance(result, Refused)
    [published] = bus.on(FAILED)
    event = outbound_pb2.MessageDispatchFailed.FromString(published.payload)
    assert (event.error.code, event.error.title, event.retryable) == (131026, "error 131026", False)
    assert published.headers["Nats-Msg-Id"] == f"{message.message_id}:failed"


async def test_transient_failure_is_retried_quietly() -> None:
    graph, bus = ScriptedGraphApi([refusal(131000, retryable=True)]), InMemoryBus()

    result = await dispatcher(graph, bus).dispatch(a_message(), last_attempt=False)

    assert isinstance(result, WillRetry)
    assert bus.published == []


async def test_transient_failure_on_the_last_attempt_is_announced_as_failed() -> None:
    graph, bus = ScriptedGraphApi([refusal(133004, retryable=True)]), InMemoryBus()

    result = await dispatcher(graph, bus).dispatch(a_message(), last_attempt=True)

    assert isinstance(result, GaveUp)
    [published] = bus.on(FAILED)
    assert outbound_pb2.MessageDispatchFailed.FromString(published.payload).retryable


def throttle(code: int, scope: ThrottleScope) -> GraphApiThrottled:
    return GraphApiThrottled(WhatsAppFailure(code, "Rate limit hit", retryable=True), scope)


async def test_a_throttled_send_slows_the_sender_down_and_goes_again_even_on_the_last_attempt() -> (
    None
):
    pacer = Pacer(PacingSettings(rate=1000, pause=0.01, pair_interval=0.01))
    graph = ScriptedGraphApi(
        [
            throttle(130429, ThrottleScope.NUMBER),
            throttle(131056, ThrottleScope.RECIPIENT),
            "wamid.A1",
        ]
    )
    bus, message = InMemoryBus(), a_message()

    result = await dispatcher(graph, bus, pacer=pacer).dispatch(message, last_attempt=True)

    assert result == Sent("wamid.A1")
    assert len(graph.sent) == 3
    assert bus.on(FAILED) == []
    assert len(bus.on(DISPATCHED)) == 1
    assert pacer.rate(message.phone_number_id, 0.0) == 500
    assert pacer.recipient_interval(message.phone_number_id, "16505551234", 0.0) == 0.01


async def test_invalid_message_is_refused_without_calling_the_graph_api() -> None:
    graph, bus = ScriptedGraphApi(), InMemoryBus()
    message = a_message(recipient=Recipient())

    result = await dispatcher(graph, bus).dispatch(message, last_attempt=False)

    assert isinstance(result, Refused)
    assert result.failure.title == "Invalid message"
    assert graph.sent == []
    assert len(bus.on(FAILED)) == 1


async def test_sent_message_is_recorded_in_the_ledger() -> None:
    graph, ledger, message = ScriptedGraphApi(["wamid.C1"]), InMemorySentLedger(), a_message()

    await dispatcher(graph, InMemoryBus(), ledger).dispatch(message, last_attempt=False)

    assert ledger.sent[message.message_id] == SentRecord("wamid.C1", SENT_AT)


async def test_failing_ledger_write_still_announces_the_send() -> None:
    class BrokenLedger(InMemorySentLedger):
        async def record(self, message_id: str, sent: SentRecord) -> None:
            raise ConnectionError("KV unavailable")

    graph, bus = ScriptedGraphApi(["wamid.D1"]), InMemoryBus()

    result = await dispatcher(graph, bus, BrokenLedger()).dispatch(a_message(), last_attempt=False)

    assert result == Sent("wamid.D1")
    assert len(bus.on(DISPATCHED)) == 1


class FlakyLedger(InMemorySentLedger):
    """A ledger whose first writes fail as a NATS restart makes them fail."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def record(self, message_id: str, sent: SentRecord) -> None:
        if self.failures:
            self.failures -= 1
            raise nats.errors.ConnectionClosedError
        await super().record(message_id, sent)


async def test_a_ledger_write_that_fails_for_a_moment_is_tried_again_so_nothing_goes_twice() -> (
    None
):
    # Found by make chaos: NATS restarting between Meta's 200 and the ledger write made the
    # redelivered message go out a second time.
    graph, bus, message = ScriptedGraphApi(["wamid.A1", "wamid.A2"]), InMemoryBus(), a_message()
    ledger = FlakyLedger(failures=3)
    sender = MessageDispatcher(
        graph=graph,
        ledger=ledger,
        announcements=JetStreamAnnouncements(bus, Topology()),
        clock=lambda: SENT_AT,
        remember_backoff=Backoff(first=0.001, limit=0.002),
    )

    first = await sender.dispatch(message, last_attempt=False)
    again = await sender.dispatch(message, last_attempt=False)  # a redelivery

    assert first == Sent("wamid.A1")
    assert again == Sent("wamid.A1", already_sent=True)
    assert ledger.sent[message.message_id].wamid == "wamid.A1"
