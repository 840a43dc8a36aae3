"""Reading one message, status or error object of a `messages` change into its fact.

Each object is checked where its structure matters (ids, type, timestamp, sender), then cleaned
(`sanitize.py`) and bounded as a whole (`OVERSIZED` beyond `MAX_MESSAGE_JSON_BYTES`); what
cleaning changed, and what the change's shared parts noted, are the fact's `problems`.
A `MalformedWebhook` rejects the object alone (`webhook_parser.py` keeps the others).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from threadline.ingest.domain.bounds import MAX_MESSAGE_JSON_BYTES, MESSAGE_TYPE, STATUS, WAMID
from threadline.ingest.domain.customer_identity import Contact, recipient, sender
from threadline.ingest.domain.facts import (
    InboundMessageReceived,
    MessageStatusReported,
    Pricing,
    WebhookErrorReported,
    WhatsAppError,
)
from threadline.ingest.domain.message_content import message_content
from threadline.ingest.domain.receipt import Receipt
from threadline.ingest.domain.sanitize import Cleaned, Problems, clean
from threadline.ingest.domain.webhook_shape import (
    OVERSIZED,
    JsonObject,
    MalformedWebhook,
    as_object,
    compact_json,
    id_at,
    list_at,
    object_at,
    text_of,
    unix_seconds_at,
)

_INT32 = range(-(2**31), 2**31)


@dataclass(frozen=True, slots=True)
class Change:
    """What every fact of one `messages` change shares."""

    phone_number_id: str
    display_phone_number: str
    contacts: Sequence[Contact]
    problems: list[str]
    receipt: Receipt


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


def inbound_message(item: object, path: str, change: Change) -> InboundMessageReceived:
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
    return InboundMessageReceived(
        phone_number_id=change.phone_number_id,
        msg_id=wamid,
        raw_json=raw_json,
        problems=tuple(problems.texts()),
        wamid=wamid,
        display_phone_number=change.display_phone_number,
        customer=customer.customer,
        content=content.content,
        sent_at=sent_at,
        received_at=change.receipt.at,
        context_wamid=text_of(context.get("id")) if isinstance(context, dict) else "",
    )


def status_report(item: object, path: str, change: Change) -> MessageStatusReported:
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
    return MessageStatusReported(
        phone_number_id=change.phone_number_id,
        # The time as sent (not as clamped): a retry of the webhook gives the same id.
        msg_id=f"{wamid}:{state}:{seconds}",
        raw_json=raw_json,
        problems=tuple(problems.texts()),
        wamid=wamid,
        status=state,
        recipient=who.customer,
        reported_at=reported_at,
        errors=tuple(_whatsapp_error(e) for e in errors) if isinstance(errors, list) else (),
        pricing=_pricing(pricing) if isinstance(pricing, dict) and pricing else None,
    )


def webhook_error(item: object, path: str, msg_id: str, change: Change) -> WebhookErrorReported:
    error = as_object(item, path)
    cleaned, raw_json = _cleaned_unit(error, path, "errors")
    problems = Problems()
    problems.extend(cleaned.problems)
    problems.extend(change.problems)
    return WebhookErrorReported(
        phone_number_id=change.phone_number_id,
        msg_id=msg_id,
        raw_json=raw_json,
        problems=tuple(problems.texts()),
        error=_whatsapp_error(cleaned.value),
        received_at=change.receipt.at,
    )


def _whatsapp_error(error: object) -> WhatsAppError:
    """A cleaned error object read leniently (its texts are already bounded)."""
    if not isinstance(error, dict):
        return WhatsAppError()
    code = error.get("code")
    data = error.get("error_data")
    return WhatsAppError(
        code=code if isinstance(code, int) and not isinstance(code, bool) and code in _INT32 else 0,
        title=text_of(error.get("title")),
        message=text_of(error.get("message")),
        details=text_of(data.get("details")) if isinstance(data, dict) else "",
    )


def _pricing(pricing: JsonObject) -> Pricing:
    billable = pricing.get("billable")
    return Pricing(
        billable=billable if isinstance(billable, bool) else False,
        category=text_of(pricing.get("category")),
        pricing_model=text_of(pricing.get("pricing_model")),
        type=text_of(pricing.get("type")),
    )
