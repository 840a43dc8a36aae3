"""Splitting a WhatsApp webhook into facts: one per message, per status, per error.

Pure: no I/O, the time of receipt is given. The structure (entries, changes, ids, timestamps,
senders) is read strictly and a mistake raises `MalformedWebhook`; the parts that only
decorate a fact (captions, names, pricing) are read leniently, and the whole objects travel
along as JSON so nothing is lost.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from threadline.contracts.events.v1 import common_pb2, ingest_pb2
from threadline.ingest.customer_identity import recipient, sender
from threadline.ingest.message_content import message_content
from threadline.ingest.webhook_shape import (
    JsonObject,
    MalformedWebhook,
    canonical_json,
    compact_json,
    kind_of,
    object_at,
    objects_at,
    string_at,
    text_of,
    unix_time_at,
)

__all__ = [
    "Fact",
    "Ignored",
    "MalformedWebhook",
    "ParsedWebhook",
    "decode",
    "first_phone_number_id",
    "parse_document",
    "parse_webhook",
]

MESSAGES_FIELD = "messages"
_INT32 = range(-(2**31), 2**31)


@dataclass(frozen=True, slots=True)
class Fact:
    """One fact to publish, with what its subject and `Nats-Msg-Id` are made of."""

    phone_number_id: str
    msg_id: str
    message: Message

    @property
    def name(self) -> str:
        """`InboundMessageReceived`, `MessageStatusReported` or `WebhookErrorReported`."""
        return self.message.DESCRIPTOR.name


@dataclass(frozen=True, slots=True)
class Ignored:
    """A change of the webhook that gives no fact, and why (for the log)."""

    field: str
    reason: str


@dataclass(frozen=True, slots=True)
class ParsedWebhook:
    facts: tuple[Fact, ...]
    ignored: tuple[Ignored, ...]


@dataclass(frozen=True, slots=True)
class _Change:
    """What every fact of one `messages` change shares."""

    phone_number_id: str
    display_phone_number: str
    contacts: Sequence[JsonObject]
    received_at: Timestamp


def decode(body: bytes) -> JsonObject:
    """The webhook's JSON object; `MalformedWebhook` when the body is not one."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise MalformedWebhook(f"the body is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise MalformedWebhook(f"the body must be a JSON object, got {kind_of(document)}")
    return document


def parse_webhook(body: bytes, *, received_at: datetime) -> ParsedWebhook:
    return parse_document(decode(body), received_at=received_at)


def parse_document(document: JsonObject, *, received_at: datetime) -> ParsedWebhook:
    """Every fact of the webhook, in the order WhatsApp listed them."""
    received = Timestamp()
    received.FromDatetime(received_at)
    facts: list[Fact] = []
    ignored: list[Ignored] = []
    for entry_path, entry in objects_at(document, "entry", "", required=True):
        for path, change in objects_at(entry, "changes", entry_path, required=True):
            field = string_at(change, "field", path, required=True)
            if field != MESSAGES_FIELD:
                ignored.append(Ignored(field, f"no fact is made from '{field}' webhooks"))
                continue
            found = _change_facts(object_at(change, "value", path, required=True), path, received)
            if not found:
                ignored.append(Ignored(field, "the change has no messages, statuses or errors"))
            facts.extend(found)
    return ParsedWebhook(tuple(facts), tuple(ignored))


def first_phone_number_id(document: object) -> str | None:
    """The first business number a webhook names, read leniently (also from a malformed one)."""
    for entry in _list(document, "entry"):
        for change in _list(entry, "changes"):
            value = change.get("value") if isinstance(change, dict) else None
            metadata = value.get("metadata") if isinstance(value, dict) else None
            if isinstance(metadata, dict) and text_of(metadata.get("phone_number_id")):
                return text_of(metadata.get("phone_number_id"))
    return None


def _list(parent: object, key: str) -> list[object]:
    value = parent.get(key) if isinstance(parent, dict) else None
    return value if isinstance(value, list) else []


def _change_facts(value: JsonObject, path: str, received_at: Timestamp) -> list[Fact]:
    path = f"{path}.value"
    metadata_path = f"{path}.metadata"
    metadata = object_at(value, "metadata", path, required=True)
    change = _Change(
        phone_number_id=string_at(metadata, "phone_number_id", metadata_path, required=True),
        display_phone_number=string_at(metadata, "display_phone_number", metadata_path),
        contacts=[contact for _, contact in objects_at(value, "contacts", path)],
        received_at=received_at,
    )
    facts = [_inbound(m, where, change) for where, m in objects_at(value, "messages", path)]
    facts += [_status(s, where, change) for where, s in objects_at(value, "statuses", path)]
    errors = objects_at(value, "errors", path)
    if errors:
        # The change's content tells one webhook from another; a retry of it gives the same ids.
        digest = hashlib.sha256(canonical_json(value).encode()).hexdigest()
        facts += [_error(e, f"error:{digest}:{i}", change) for i, (_, e) in enumerate(errors)]
    return facts


def _inbound(message: JsonObject, path: str, change: _Change) -> Fact:
    wamid = string_at(message, "id", path, required=True)
    sent_at, _ = unix_time_at(message, "timestamp", path)
    context = object_at(message, "context", path, required=False)
    fact = ingest_pb2.InboundMessageReceived(
        wamid=wamid,
        phone_number_id=change.phone_number_id,
        display_phone_number=change.display_phone_number,
        customer=sender(message, path, change.contacts),
        content=message_content(string_at(message, "type", path, required=True), message),
        sent_at=sent_at,
        received_at=change.received_at,
        context_wamid=text_of(context.get("id")),
        raw_json=compact_json(message),
    )
    return Fact(change.phone_number_id, wamid, fact)


def _status(status: JsonObject, path: str, change: _Change) -> Fact:
    wamid = string_at(status, "id", path, required=True)
    state = string_at(status, "status", path, required=True)
    reported_at, seconds = unix_time_at(status, "timestamp", path)
    pricing = object_at(status, "pricing", path, required=False)
    fact = ingest_pb2.MessageStatusReported(
        wamid=wamid,
        phone_number_id=change.phone_number_id,
        status=state,
        recipient=recipient(status, change.contacts),
        reported_at=reported_at,
        errors=[_whatsapp_error(error) for _, error in objects_at(status, "errors", path)],
        pricing=_pricing(pricing) if pricing else None,
        raw_json=compact_json(status),
    )
    return Fact(change.phone_number_id, f"{wamid}:{state}:{seconds}", fact)


def _error(error: JsonObject, msg_id: str, change: _Change) -> Fact:
    fact = ingest_pb2.WebhookErrorReported(
        phone_number_id=change.phone_number_id,
        error=_whatsapp_error(error),
        received_at=change.received_at,
        raw_json=compact_json(error),
    )
    return Fact(change.phone_number_id, msg_id, fact)


def _whatsapp_error(error: JsonObject) -> common_pb2.WhatsAppError:
    code = error.get("code")
    data = error.get("error_data")
    return common_pb2.WhatsAppError(
        code=code if isinstance(code, int) and not isinstance(code, bool) and code in _INT32 else 0,
        title=text_of(error.get("title")),
        message=text_of(error.get("message")),
        details=text_of(data.get("details")) if isinstance(data, dict) else "",
    )


def _pricing(pricing: JsonObject) -> common_pb2.Pricing:
    billable = pricing.get("billable")
    return common_pb2.Pricing(
        billable=billable if isinstance(billable, bool) else False,
        category=text_of(pricing.get("category")),
        pricing_model=text_of(pricing.get("pricing_model")),
        type=text_of(pricing.get("type")),
    )
