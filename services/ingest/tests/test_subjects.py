"""Subjects and message ids of what ingest publishes."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from threadline.ingest.adapters.outbound.subjects import (
    fact_subject,
    raw_msg_id,
    raw_subject,
    subject_token,
)
from threadline.ingest.domain.facts import (
    CustomerIdentity,
    InboundMessageReceived,
    MessageContent,
    MessageStatusReported,
    WebhookErrorReported,
    WhatsAppError,
)
from threadline.messaging.topology import Topology
from threadline.rules.partitions import customer_slot


def test_fact_subject_names_partition_business_number_and_fact() -> None:
    """The partition is the customer's: the sender of a message, the recipient of a status
    (wa_id first, else the BSUID); an error names no customer, so the number's own."""
    at = datetime(2026, 12, 6, tzinfo=UTC)
    number = "106540352242922"
    message = InboundMessageReceived(
        number, "wamid.1", "{}", (), "wamid.1", "+1 555", CustomerIdentity(wa_id="49"),
        MessageContent("text", "hi", "{}"), at, at, "",
    )  # fmt: skip
    status = MessageStatusReported(
        number, "wamid.2:read", "{}", (), "wamid.2", "read", CustomerIdentity(user_id="US.77"),
        at, (), None,
    )  # fmt: skip
    error = WebhookErrorReported(number, "error:1", "{}", (), WhatsAppError(), at)
    topology = Topology(partitions=8)

    assert [fact_subject(topology, fact) for fact in (message, status, error)] == [
        f"ingest.events.{customer_slot('106540352242922', '49') % 8}"
        ".106540352242922.InboundMessageReceived",
        f"ingest.events.{customer_slot('106540352242922', '', 'US.77') % 8}"
        ".106540352242922.MessageStatusReported",
        f"ingest.events.{customer_slot('106540352242922', '') % 8}"
        ".106540352242922.WebhookErrorReported",
    ]
    assert fact_subject(Topology(), message) == (
        "ingest.events.0.106540352242922.InboundMessageReceived"
    )


def test_subjects_live_under_the_namespace() -> None:
    assert raw_subject(Topology("t1"), "123") == "t1.ingest.raw.123"


def test_raw_subject_without_business_number_is_unknown() -> None:
    assert raw_subject(Topology(), None) == "ingest.raw.unknown"


@pytest.mark.parametrize(
    ("phone_number_id", "token"),
    [
        ("106540352242922", "106540352242922"),
        ("<BUSINESS_PHONE_NUMBER_ID>", "_BUSINESS_PHONE_NUMBER_ID_"),
        ("a.b *>c", "a_b___c"),
        ("", "unknown"),
    ],
)
def test_business_number_becomes_one_safe_subject_token(phone_number_id: str, token: str) -> None:
    assert subject_token(phone_number_id) == token


def test_raw_message_id_is_the_body_hash() -> None:
    assert raw_msg_id(b"{}") == "raw:" + hashlib.sha256(b"{}").hexdigest()
