"""Subjects and message ids of what ingest publishes."""

from __future__ import annotations

import hashlib

import pytest

from threadline.ingest.adapters.outbound.subjects import (
    fact_subject,
    raw_msg_id,
    raw_subject,
    subject_token,
)
from threadline.messaging.topology import Topology


def test_fact_subject_names_business_number_and_fact() -> None:
    subject = fact_subject(Topology(), "106540352242922", "InboundMessageReceived")

    assert subject == "ingest.events.106540352242922.InboundMessageReceived"


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
