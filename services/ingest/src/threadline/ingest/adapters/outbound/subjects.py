"""Where ingest publishes: subjects (from the topology's routes) and message ids."""

from __future__ import annotations

import hashlib
import re
from typing import Final

from threadline.contracts.events.v1 import ingest_pb2
from threadline.messaging.topology import (
    INBOUND_MESSAGE_RECEIVED,
    MESSAGE_STATUS_REPORTED,
    RAW_WEBHOOK,
    WEBHOOK_ERROR_REPORTED,
    Route,
    Topology,
)

UNKNOWN: Final = "unknown"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_MAX_TOKEN: Final = 128

# The route of each fact, by the name of the integration event it is published as.
FACT_ROUTES: Final[dict[str, Route]] = {
    ingest_pb2.InboundMessageReceived.DESCRIPTOR.name: INBOUND_MESSAGE_RECEIVED,
    ingest_pb2.MessageStatusReported.DESCRIPTOR.name: MESSAGE_STATUS_REPORTED,
    ingest_pb2.WebhookErrorReported.DESCRIPTOR.name: WEBHOOK_ERROR_REPORTED,
}


def subject_token(phone_number_id: str | None) -> str:
    """`phone_number_id` made safe as one subject token; `unknown` when there is none."""
    token = _UNSAFE.sub("_", phone_number_id or "")[:_MAX_TOKEN]
    return token or UNKNOWN


def raw_subject(topology: Topology, phone_number_id: str | None) -> str:
    """The `RAW_WEBHOOK` subject of a body from `phone_number_id`."""
    return topology.publish_subject(RAW_WEBHOOK, phone_number_id=subject_token(phone_number_id))


def fact_subject(topology: Topology, phone_number_id: str, fact_name: str) -> str:
    """The subject of the fact named `fact_name` (its route's) from `phone_number_id`."""
    route = FACT_ROUTES[fact_name]
    return topology.publish_subject(route, phone_number_id=subject_token(phone_number_id))


def raw_msg_id(body: bytes) -> str:
    """The same body delivered twice (Meta retries) is kept once."""
    return "raw:" + hashlib.sha256(body).hexdigest()


def dead_letter_msg_id(slug: str, body: bytes) -> str:
    """One dead letter of each kind per body, however often it is delivered."""
    return f"dlq:{slug}:{raw_msg_id(body)}"
