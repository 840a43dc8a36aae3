"""Splitting a WhatsApp webhook into facts: one per message, per status, per error.

Pure: no I/O, the time of receipt is given. The structure (entries, changes, ids, timestamps,
senders) is read strictly; the parts that only decorate a fact (captions, names, pricing) are
read leniently, and the whole objects travel along as JSON so nothing is lost.

Every value is bounded where it enters (`bounds.py`): each message, status and error object is
cleaned (`sanitize.py`) before anything is made from it, and what cleaning changed travels with
the fact as its `problems`. A timestamp outside a window around the time received is clamped
(and noted). What cannot be kept sensibly is *rejected* alone, with its reason: one message or
status whose structure is wrong, whose id is over its bound, or that is still over the
whole-message bound once cleaned; a change or an entry whose own structure is wrong. The facts
beside it are kept. Only a body that is no JSON object with an `entry` list is refused whole.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from threadline.contracts.events.v1 import common_pb2, ingest_pb2
from threadline.ingest.bounds import (
    MAX_AGE,
    MAX_DEPTH,
    MAX_FUTURE,
    MAX_MESSAGE_JSON_BYTES,
    MESSAGE_TYPE,
    PHONE_NUMBER_ID,
    STATUS,
    WAMID,
    bound_of,
)
from threadline.ingest.customer_identity import Contact, recipient, sender
from threadline.ingest.message_content import message_content
from threadline.ingest.sanitize import Cleaned, Problems, clean, clean_text, decode_json, quote
from threadline.ingest.webhook_shape import (
    BAD_ID,
    OVERSIZED,
    UNPARSEABLE,
    JsonObject,
    MalformedWebhook,
    as_object,
    canonical_json,
    compact_json,
    id_at,
    kind_of,
    list_at,
    object_at,
    string_at,
    text_of,
    unix_seconds_at,
)

__all__ = [
    "BAD_ID",
    "OVERSIZED",
    "UNPARSEABLE",
    "Fact",
    "Ignored",
    "MalformedWebhook",
    "ParsedWebhook",
    "Rejected",
    "decode",
    "first_phone_number_id",
    "parse_document",
    "parse_webhook",
]

MESSAGES_FIELD = "messages"
_INT32 = range(-(2**31), 2**31)
_MAX_FIELD_NAME = 64
_NOTHING = "the change has no messages, statuses or errors"


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

    @property
    def problems(self) -> list[str]:
        """What ingest changed to keep this fact within its bounds."""
        return list(getattr(self.message, "problems", ()))


@dataclass(frozen=True, slots=True)
class Ignored:
    """A change of the webhook that gives no fact, and why (for the log)."""

    field: str
    reason: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """A part of the webhook (at `path`) that gives no fact and must be dead-lettered."""

    path: str
    reason: str
    slug: str


@dataclass(frozen=True, slots=True)
class ParsedWebhook:
    facts: tuple[Fact, ...]
    ignored: tuple[Ignored, ...]
    rejected: tuple[Rejected, ...] = ()


@dataclass(frozen=True, slots=True)
class _Receipt:
    """When the webhook was received, and the window of times a fact may carry."""

    at: datetime
    stamp: Timestamp

    @classmethod
    def of(cls, received_at: datetime) -> _Receipt:
        stamp = Timestamp()
        stamp.FromDatetime(received_at)
        return cls(received_at, stamp)

    def time(self, seconds: int, where: str, name: str, problems: Problems) -> Timestamp:
        """`seconds` as a Timestamp, clamped into the window around the time received."""
        received = self.at.timestamp()
        if seconds > received + MAX_FUTURE.total_seconds():
            problems.add(
                f"{where} {seconds} is more than {_duration(MAX_FUTURE)} after the webhook was "
                f"received ({_iso(self.at)}); {name} is the time received"
            )
            return _copy(self.stamp)
        if seconds < received - MAX_AGE.total_seconds():
            earliest = self.at - MAX_AGE
            problems.add(
                f"{where} {seconds} is more than {_duration(MAX_AGE)} before the webhook was "
                f"received ({_iso(self.at)}); {name} is {_iso(earliest)}"
            )
            stamp = Timestamp()
            stamp.FromDatetime(earliest)
            return stamp
        return Timestamp(seconds=seconds)


@dataclass(frozen=True, slots=True)
class _Change:
    """What every fact of one `messages` change shares."""

    phone_number_id: str
    display_phone_number: str
    contacts: Sequence[Contact]
    problems: list[str]
    receipt: _Receipt


def decode(body: bytes) -> JsonObject:
    """The webhook's JSON object; `MalformedWebhook` when the body is not one."""
    try:
        document = decode_json(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise MalformedWebhook(f"the body is not JSON: {_first_line(error)}") from None
    if not isinstance(document, dict):
        raise MalformedWebhook(f"the body must be a JSON object, got {kind_of(document)}")
    return document


def parse_webhook(body: bytes, *, received_at: datetime) -> ParsedWebhook:
    return parse_document(decode(body), received_at=received_at)


def parse_document(document: JsonObject, *, received_at: datetime) -> ParsedWebhook:
    """Every fact of the webhook, in the order WhatsApp listed them, and what was rejected.

    Raises `MalformedWebhook` only when the document has no `entry` list."""
    receipt = _Receipt.of(received_at)
    facts: list[Fact] = []
    ignored: list[Ignored] = []
    rejected: list[Rejected] = []
    for entry_path, entry in list_at(document, "entry", "", required=True):
        try:
            changes = list_at(as_object(entry, entry_path), "changes", entry_path, required=True)
        except MalformedWebhook as problem:
            rejected.append(Rejected(entry_path, problem.reason, problem.slug))
            continue
        for path, change in changes:
            before = len(rejected)
            try:
                found = _change(as_object(change, path), path, receipt, rejected, ignored)
            except MalformedWebhook as problem:
                rejected.append(Rejected(path, problem.reason, problem.slug))
                continue
            if found is None:
                continue
            if not found and len(rejected) == before:
                ignored.append(Ignored(MESSAGES_FIELD, _NOTHING))
            facts.extend(found)
    return ParsedWebhook(tuple(facts), tuple(ignored), tuple(rejected))


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


def _change(
    change: JsonObject,
    path: str,
    receipt: _Receipt,
    rejected: list[Rejected],
    ignored: list[Ignored],
) -> list[Fact] | None:
    """The facts of one change; None when its field gives none (then it is `ignored`)."""
    field = string_at(change, "field", path, required=True)
    if field != MESSAGES_FIELD:
        name = field if len(field) <= _MAX_FIELD_NAME and field.isprintable() else quote(field)
        ignored.append(Ignored(name, f"no fact is made from {quote(field)} webhooks"))
        return None
    return _change_facts(object_at(change, "value", path, required=True), path, receipt, rejected)


def _change_facts(
    value: JsonObject, path: str, receipt: _Receipt, rejected: list[Rejected]
) -> list[Fact]:
    path = f"{path}.value"
    metadata_path = f"{path}.metadata"
    metadata = object_at(value, "metadata", path, required=True)
    shared = Problems()
    change = _Change(
        phone_number_id=id_at(
            metadata, "phone_number_id", metadata_path, PHONE_NUMBER_ID, required=True
        ),
        display_phone_number=clean_text(
            string_at(metadata, "display_phone_number", metadata_path),
            f"{metadata_path}.display_phone_number",
            bound_of("metadata", "display_phone_number"),
            shared,
        ),
        contacts=_contacts(value, path, shared),
        problems=shared.texts(),
        receipt=receipt,
    )
    # A list that is not one is a mistake of the whole change; an item, of that item alone.
    messages = list_at(value, "messages", path)
    statuses = list_at(value, "statuses", path)
    errors = list_at(value, "errors", path)
    facts: list[Fact] = []
    for where, message in messages:
        _keep(facts, rejected, where, _inbound, message, where, change)
    for where, status in statuses:
        _keep(facts, rejected, where, _status, status, where, change)
    if errors:
        # The change's content tells one webhook from another; a retry of it gives the same ids.
        # (Cleaned first: what is hashed must be encodable; for WhatsApp's own webhooks it is
        # the change exactly as sent.)
        cleaned = clean(value, path, parent="value", max_depth=MAX_DEPTH + 4).value
        digest = hashlib.sha256(canonical_json(cleaned).encode()).hexdigest()
        for index, (where, error) in enumerate(errors):
            _keep(facts, rejected, where, _error, error, where, f"error:{digest}:{index}", change)
    return facts


def _keep(
    facts: list[Fact],
    rejected: list[Rejected],
    where: str,
    make: Callable[..., Fact],
    *args: object,
) -> None:
    """The fact `make(*args)` makes, or the part at `where` rejected with the reason why."""
    try:
        facts.append(make(*args))
    except MalformedWebhook as problem:
        rejected.append(Rejected(where, problem.reason, problem.slug))


def _contacts(value: JsonObject, path: str, problems: Problems) -> list[Contact]:
    """`value.contacts`, cleaned; an item that is not an object is noted and left out."""
    contacts: list[Contact] = []
    for where, item in list_at(value, "contacts", path):
        if not isinstance(item, dict):
            problems.add(f"{where} must be an object, got {kind_of(item)}; left out")
            continue
        cleaned = clean(item, where, parent="contacts")
        contacts.append(Contact(cleaned.value, cleaned.problems))
    return contacts


def _cleaned_unit(unit: JsonObject, path: str, parent: str) -> tuple[Cleaned, str]:
    """The cleaned object and its compact JSON; `OVERSIZED` when that is over the bound."""
    cleaned = clean(unit, path, parent=parent)
    text = compact_json(cleaned.value)
    size = len(text.encode())
    if size > MAX_MESSAGE_JSON_BYTES:
        raise MalformedWebhook(
            f"{path} is {size} bytes of JSON once cleaned, more than the "
            f"{MAX_MESSAGE_JSON_BYTES} one message may have",
            OVERSIZED,
        )
    return cleaned, text


def _inbound(item: object, path: str, change: _Change) -> Fact:
    message = as_object(item, path)
    wamid = id_at(message, "id", path, WAMID, required=True)
    kind = id_at(message, "type", path, MESSAGE_TYPE, required=True)
    seconds = unix_seconds_at(message, "timestamp", path)
    object_at(message, "context", path, required=False)  # an object when there is one
    sender(message, path, change.contacts)  # the sender's ids are checked before cleaning
    cleaned, raw_json = _cleaned_unit(message, path, "messages")
    problems = Problems()
    problems.extend(cleaned.problems)
    sent_at = change.receipt.time(seconds, f"{path}.timestamp", "sent_at", problems)
    customer = sender(cleaned.value, path, change.contacts)
    content = message_content(kind, cleaned.value, path)
    problems.extend(content.problems)
    problems.extend(customer.problems)
    problems.extend(change.problems)
    context = cleaned.value.get("context")
    fact = ingest_pb2.InboundMessageReceived(
        wamid=wamid,
        phone_number_id=change.phone_number_id,
        display_phone_number=change.display_phone_number,
        customer=customer.customer,
        content=content.content,
        sent_at=sent_at,
        received_at=change.receipt.stamp,
        context_wamid=text_of(context.get("id")) if isinstance(context, dict) else "",
        raw_json=raw_json,
        problems=problems.texts(),
    )
    return Fact(change.phone_number_id, wamid, fact)


def _status(item: object, path: str, change: _Change) -> Fact:
    status = as_object(item, path)
    wamid = id_at(status, "id", path, WAMID, required=True)
    state = id_at(status, "status", path, STATUS, required=True)
    seconds = unix_seconds_at(status, "timestamp", path)
    object_at(status, "pricing", path, required=False)  # an object when there is one
    for where, error in list_at(status, "errors", path):
        as_object(error, where)
    recipient(status, path, change.contacts)  # the recipient's ids are checked before cleaning
    cleaned, raw_json = _cleaned_unit(status, path, "statuses")
    problems = Problems()
    problems.extend(cleaned.problems)
    reported_at = change.receipt.time(seconds, f"{path}.timestamp", "reported_at", problems)
    who = recipient(cleaned.value, path, change.contacts)
    problems.extend(who.problems)
    problems.extend(change.problems)
    pricing = cleaned.value.get("pricing")
    errors = cleaned.value.get("errors")
    fact = ingest_pb2.MessageStatusReported(
        wamid=wamid,
        phone_number_id=change.phone_number_id,
        status=state,
        recipient=who.customer,
        reported_at=reported_at,
        errors=[_whatsapp_error(e) for e in errors] if isinstance(errors, list) else [],
        pricing=_pricing(pricing) if isinstance(pricing, dict) and pricing else None,
        raw_json=raw_json,
        problems=problems.texts(),
    )
    # The time as sent (not as clamped): a retry of the webhook gives the same id.
    return Fact(change.phone_number_id, f"{wamid}:{state}:{seconds}", fact)


def _error(item: object, path: str, msg_id: str, change: _Change) -> Fact:
    error = as_object(item, path)
    cleaned, raw_json = _cleaned_unit(error, path, "errors")
    problems = Problems()
    problems.extend(cleaned.problems)
    problems.extend(change.problems)
    fact = ingest_pb2.WebhookErrorReported(
        phone_number_id=change.phone_number_id,
        error=_whatsapp_error(cleaned.value),
        received_at=change.receipt.stamp,
        raw_json=raw_json,
        problems=problems.texts(),
    )
    return Fact(change.phone_number_id, msg_id, fact)


def _whatsapp_error(error: object) -> common_pb2.WhatsAppError:
    """A cleaned error object read leniently (its texts are already bounded)."""
    if not isinstance(error, dict):
        return common_pb2.WhatsAppError()
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


def _copy(stamp: Timestamp) -> Timestamp:
    copy = Timestamp()
    copy.CopyFrom(stamp)
    return copy


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _duration(span: timedelta) -> str:
    return f"{span.days} days" if span.days else f"{round(span.total_seconds() / 60)} minutes"


def _first_line(error: BaseException) -> str:
    """The decoder's explanation (it names positions, never the input), cut short."""
    lines = str(error).splitlines() or [type(error).__name__]
    return lines[0][:200]
