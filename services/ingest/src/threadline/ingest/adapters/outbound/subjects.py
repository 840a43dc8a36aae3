"""Where ingest publishes: subjects (from the topology's routes) and message ids."""

from __future__ import annotations

import hashlib
import re
from typing import Final

from threadline.contracts.events.v1 import ingest_pb2
from threadline.ingest.domain.facts import InboundMessageReceived, MessageStatusReported, ParsedFact
from threadline.messaging.topology import (
    INBOUND_MESSAGE_RECEIVED,
    MESSAGE_STATUS_REPORTED,
    RAW_WEBHOOK,
    WEBHOOK_ERROR_REPORTED,
    Route,
    Topology,
)
from threadline.rules.partitions import customer_slot

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


def fact_subject(topology: Topology, fact: ParsedFact) -> str:
    """The subject of `fact`: its route's, in the session partition of its customer."""
    route = FACT_ROUTES[fact.name]
    return topology.publish_subject(
        route, slot=fact_slot(fact), phone_number_id=subject_token(fact.phone_number_id)
    )


def fact_slot(fact: ParsedFact) -> int:
    """The customer's slot (`threadline.rules.partitions`): the sender of a message, the
    recipient of a status; a webhook's error, which names no customer, the number's own."""
    match fact:
        case InboundMessageReceived(customer=who) | MessageStatusReported(recipient=who):
            return customer_slot(fact.phone_number_id, who.wa_id, who.user_id)
        case _:
            return customer_slot(fact.phone_number_id, "")


def raw_msg_id(body: bytes) -> str:
    """The same body delivered twice (Meta retries) is kept once."""
    return "raw:" + hashlib.sha256(body).hexdigest()


def dead_letter_msg_id(slug: str, body: bytes) -> str:
    """One dead letter of each kind per body, however often it is delivered."""
    return f"dlq:{slug}:{raw_msg_id(body)}"
