"""The intake use case over an in-memory bus: raw first, then facts; nothing lost, nothing twice."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from google.protobuf.message import Message

from threadline.contracts.events.v1 import ingest_pb2
from threadline.ingest.adapters.outbound.publisher import RECEIVED_AT, JetStreamPublisher
from threadline.ingest.application.intake import Accepted, DeadLettered, WebhookIntake
from threadline.ingest.application.ports import NotAcknowledged
from threadline.messaging.bus import InMemoryBus, PublishAck
from threadline.messaging.dead_letters import REASON
from threadline.messaging.topology import Topology

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
TextWebhook = Callable[..., dict[str, Any]]


def _intake(bus: InMemoryBus | FailingBus) -> WebhookIntake:
    return WebhookIntake(JetStreamPublisher(bus, Topology("t1")), clock=lambda: NOW)


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


class FailingBus(InMemoryBus):
    """Keeps everything except what is published under `failing_prefix`."""

    def __init__(self, failing_prefix: str) -> None:
        super().__init__()
        self.failing_prefix = failing_prefix

    async def publish(
        self,
        subject: str,
        message: Message | bytes,
        *,
        msg_id: str,
        headers: Mapping[str, str] | None = None,
    ) -> PublishAck:
        if subject.startswith(self.failing_prefix):
            raise TimeoutError("no ack")
        return await super().publish(subject, message, msg_id=msg_id, headers=headers)


async def test_text_webhook_is_kept_raw_then_published_as_a_fact(
    text_webhook: TextWebhook,
) -> None:
    bus = InMemoryBus()
    body = _encode(text_webhook(wamid="wamid.T1", phone_number_id="555"))

    result = await _intake(bus).accept(body)

    assert isinstance(result, Accepted)
    assert [p.subject for p in bus.published] == [
        "t1.ingest.raw.555",
        "t1.ingest.events.0.555.InboundMessageReceived",
    ]
    raw, fact = bus.published
    assert raw.payload == body
    assert raw.headers[RECEIVED_AT] == NOW.isoformat()
    assert fact.headers["Nats-Msg-Id"] == "wamid.T1"
    assert ingest_pb2.InboundMessageReceived.FromString(fact.payload).wamid == "wamid.T1"


async def test_webhook_delivered_twice_gives_one_fact(text_webhook: TextWebhook) -> None:
    bus = InMemoryBus()
    body = _encode(text_webhook())

    first = await _intake(bus).accept(body)
    again = await _intake(bus).accept(body)

    assert isinstance(first, Accepted) and first.duplicates == 0
    assert isinstance(again, Accepted) and again.duplicates == 1
    assert len(bus.on("t1.ingest.events.")) == 1
    assert len(bus.on("t1.ingest.raw.")) == 1


async def test_status_webhook_is_published_as_a_status_report() -> None:
    bus = InMemoryBus()
    value = {
        "metadata": {"phone_number_id": "555"},
        "statuses": [{"id": "wamid.S1", "status": "read", "timestamp": "1750000000"}],
    }
    body = {"entry": [{"changes": [{"field": "messages", "value": value}]}]}

    await _intake(bus).accept(_encode(body))

    (fact,) = bus.on("t1.ingest.events.")
    assert fact.subject == "t1.ingest.events.0.555.MessageStatusReported"
    assert fact.headers["Nats-Msg-Id"] == "wamid.S1:read:1750000000"


async def test_unsafe_business_number_is_made_safe_in_subjects(text_webhook: TextWebhook) -> None:
    bus = InMemoryBus()

    await _intake(bus).accept(_encode(text_webhook(phone_number_id="12.*>34")))

    assert [p.subject for p in bus.published] == [
        "t1.ingest.raw.12___34",
        "t1.ingest.events.0.12___34.InboundMessageReceived",
    ]


async def test_webhook_without_facts_is_kept_raw_only() -> None:
    bus = InMemoryBus()
    body = {"entry": [{"changes": [{"field": "account_update", "value": {"event": "X"}}]}]}

    result = await _intake(bus).accept(_encode(body))

    assert isinstance(result, Accepted)
    assert [i.field for i in result.ignored] == ["account_update"]
    assert [p.subject for p in bus.published] == ["t1.ingest.raw.unknown"]


async def test_unreadable_body_is_kept_raw_and_dead_lettered_with_the_reason() -> None:
    bus = InMemoryBus()

    result = await _intake(bus).accept(b"{not json")

    assert isinstance(result, DeadLettered)
    assert [p.subject for p in bus.published] == [
        "t1.ingest.raw.unknown",
        "t1.dlq.ingest.unparseable",
    ]
    dead = bus.published[1]
    assert dead.payload == b"{not json"
    assert "not JSON" in dead.headers[REASON]


async def test_malformed_webhook_is_kept_under_its_business_number(
    text_webhook: TextWebhook,
) -> None:
    bus = InMemoryBus()
    body = text_webhook(phone_number_id="555")
    del body["entry"][0]["changes"][0]["value"]["messages"][0]["id"]

    result = await _intake(bus).accept(_encode(body))

    assert isinstance(result, DeadLettered)
    assert "messages[0].id is missing" in result.reason
    assert [p.subject for p in bus.published] == ["t1.ingest.raw.555", "t1.dlq.ingest.unparseable"]


@pytest.mark.parametrize("failing", ["t1.ingest.raw.", "t1.ingest.events.", "t1.dlq."])
async def test_publish_not_acknowledged_fails_the_webhook(
    text_webhook: TextWebhook, failing: str
) -> None:
    bus = FailingBus(failing)
    body = b"not json" if failing == "t1.dlq." else _encode(text_webhook())

    with pytest.raises(NotAcknowledged):
        await _intake(bus).accept(body)


async def test_raw_not_acknowledged_publishes_no_fact(text_webhook: TextWebhook) -> None:
    bus = FailingBus("t1.ingest.raw.")

    with pytest.raises(NotAcknowledged):
        await _intake(bus).accept(_encode(text_webhook()))

    assert bus.published == []


async def test_bad_parts_are_dead_lettered_once_per_kind_and_the_good_facts_published(
    text_webhook: TextWebhook,
) -> None:
    bus = InMemoryBus()
    body = text_webhook(wamid="wamid.GOOD", phone_number_id="555")
    messages = body["entry"][0]["changes"][0]["value"]["messages"]
    good = messages[0]
    messages += [
        {**good, "id": "w" * 300},
        {**good, "id": "x" * 300},
        {**good, "id": "wamid.NOTIME", "timestamp": "soon"},
    ]

    result = await _intake(bus).accept(_encode(body))

    assert isinstance(result, Accepted)
    assert [f.msg_id for f in result.facts] == ["wamid.GOOD"]
    assert [r.slug for r in result.rejected] == ["bad-id", "bad-id", "unparseable"]
    assert [p.subject for p in bus.published] == [
        "t1.ingest.raw.555",
        "t1.ingest.events.0.555.InboundMessageReceived",
        "t1.dlq.ingest.bad-id",
        "t1.dlq.ingest.unparseable",
    ]
    bad_ids = bus.published[2]
    assert bad_ids.payload == _encode(body)
    assert "messages[1].id has 300 characters" in bad_ids.headers[REASON]
    assert "messages[2].id has 300 characters" in bad_ids.headers[REASON]


async def test_a_webhook_delivered_again_dead_letters_nothing_twice(
    text_webhook: TextWebhook,
) -> None:
    bus = InMemoryBus()
    body = _encode(text_webhook(wamid="w" * 300))

    first = await _intake(bus).accept(body)
    again = await _intake(bus).accept(body)

    assert isinstance(first, DeadLettered) and isinstance(again, DeadLettered)
    assert len(bus.on("t1.dlq.")) == 1


async def test_a_parser_bug_dead_letters_that_webhook_alone(
    text_webhook: TextWebhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(document: object, *, received_at: datetime) -> None:
        raise TypeError("a bug")

    monkeypatch.setattr("threadline.ingest.application.intake.parse_document", broken)
    bus = InMemoryBus()

    result = await _intake(bus).accept(_encode(text_webhook(phone_number_id="555")))

    assert isinstance(result, DeadLettered)
    assert result.reason == "the parser failed: TypeError"
    assert [p.subject for p in bus.published] == ["t1.ingest.raw.555", "t1.dlq.ingest.parser-error"]


async def test_a_fact_that_cannot_be_encoded_dead_letters_that_webhook_alone(
    text_webhook: TextWebhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(fact: object) -> None:
        raise TypeError("a bug")

    monkeypatch.setattr("threadline.ingest.adapters.outbound.publisher.integration_event", broken)
    bus = InMemoryBus()

    result = await _intake(bus).accept(_encode(text_webhook(phone_number_id="555")))

    assert isinstance(result, DeadLettered)
    assert result.reason == "the parser failed: TypeError"
    assert [p.subject for p in bus.published] == ["t1.ingest.raw.555", "t1.dlq.ingest.parser-error"]
