"""Splitting a WhatsApp webhook into facts: one per message, per status, per error.

Pure: no I/O, the time of receipt is given. The structure (entries, changes, ids, timestamps,
senders) is read strictly; the parts that only decorate a fact (captions, names, pricing) are
read leniently, and the whole objects travel along as JSON so nothing is lost.

Every value is bounded where it enters (`bounds.py`): each message, status and error object is
cleaned (`sanitize.py`) before anything is made from it, and what cleaning changed travels with
the fact as its `problems`. A timestamp outside a window around the time received is clamped
(and noted, `receipt.py`). What cannot be kept sensibly is *rejected* alone, with its reason:
one message or status whose structure is wrong, whose id is over its bound, or that is still
over the whole-message bound once cleaned (`fact_readers.py`); a change or an entry whose own
structure is wrong. The facts beside it are kept. Only a body that is no JSON object with an
`entry` list is refused whole.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime

from threadline.ingest.domain.bounds import (
    MAX_DEPTH,
    PHONE_NUMBER_ID,
    bound_of,
)
from threadline.ingest.domain.customer_identity import Contact
from threadline.ingest.domain.fact_readers import (
    Change,
    inbound_message,
    status_report,
    webhook_error,
)
from threadline.ingest.domain.facts import (
    IgnoredPart,
    ParsedFact,
    ParsedWebhook,
    RejectedPart,
)
from threadline.ingest.domain.receipt import Receipt
from threadline.ingest.domain.sanitize import (
    Problems,
    clean,
    clean_text,
    decode_json,
    quote,
)
from threadline.ingest.domain.webhook_shape import (
    BAD_ID,
    OVERSIZED,
    UNPARSEABLE,
    JsonObject,
    MalformedWebhook,
    as_object,
    canonical_json,
    id_at,
    kind_of,
    list_at,
    object_at,
    string_at,
    text_of,
)

__all__ = [
    "BAD_ID",
    "OVERSIZED",
    "UNPARSEABLE",
    "IgnoredPart",
    "MalformedWebhook",
    "ParsedFact",
    "ParsedWebhook",
    "RejectedPart",
    "decode",
    "first_phone_number_id",
    "parse_document",
    "parse_webhook",
]

MESSAGES_FIELD = "messages"
_MAX_FIELD_NAME = 64
_NOTHING = "the change has no messages, statuses or errors"


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
    receipt = Receipt(received_at)
    facts: list[ParsedFact] = []
    ignored: list[IgnoredPart] = []
    rejected: list[RejectedPart] = []
    for entry_path, entry in list_at(document, "entry", "", required=True):
        try:
            changes = list_at(as_object(entry, entry_path), "changes", entry_path, required=True)
        except MalformedWebhook as problem:
            rejected.append(RejectedPart(entry_path, problem.reason, problem.slug))
            continue
        for path, change in changes:
            before = len(rejected)
            try:
                found = _change(as_object(change, path), path, receipt, rejected, ignored)
            except MalformedWebhook as problem:
                rejected.append(RejectedPart(path, problem.reason, problem.slug))
                continue
            if found is None:
                continue
            if not found and len(rejected) == before:
                ignored.append(IgnoredPart(MESSAGES_FIELD, _NOTHING))
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
    receipt: Receipt,
    rejected: list[RejectedPart],
    ignored: list[IgnoredPart],
) -> list[ParsedFact] | None:
    """The facts of one change; None when its field gives none (then it is `ignored`)."""
    field = string_at(change, "field", path, required=True)
    if field != MESSAGES_FIELD:
        name = field if len(field) <= _MAX_FIELD_NAME and field.isprintable() else quote(field)
        ignored.append(IgnoredPart(name, f"no fact is made from {quote(field)} webhooks"))
        return None
    return _change_facts(object_at(change, "value", path, required=True), path, receipt, rejected)


def _change_facts(
    value: JsonObject, path: str, receipt: Receipt, rejected: list[RejectedPart]
) -> list[ParsedFact]:
    path = f"{path}.value"
    metadata_path = f"{path}.metadata"
    metadata = object_at(value, "metadata", path, required=True)
    shared = Problems()
    change = Change(
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
    facts: list[ParsedFact] = []
    for where, message in messages:
        _keep(facts, rejected, where, inbound_message, message, where, change)
    for where, status in statuses:
        _keep(facts, rejected, where, status_report, status, where, change)
    if errors:
        # The change's content tells one webhook from another; a retry of it gives the same ids.
        # (Cleaned first: what is hashed must be encodable; for WhatsApp's own webhooks it is
        # the change exactly as sent.)
        cleaned = clean(value, path, parent="value", max_depth=MAX_DEPTH + 4).value
        digest = hashlib.sha256(canonical_json(cleaned).encode()).hexdigest()
        for index, (where, error) in enumerate(errors):
            msg_id = f"error:{digest}:{index}"
            _keep(facts, rejected, where, webhook_error, error, where, msg_id, change)
    return facts


def _keep(
    facts: list[ParsedFact],
    rejected: list[RejectedPart],
    where: str,
    make: Callable[..., ParsedFact],
    *args: object,
) -> None:
    """The fact `make(*args)` makes, or the part at `where` rejected with the reason why."""
    try:
        facts.append(make(*args))
    except MalformedWebhook as problem:
        rejected.append(RejectedPart(where, problem.reason, problem.slug))


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


def _first_line(error: BaseException) -> str:
    """The decoder's explanation (it names positions, never the input), cut short."""
    lines = str(error).splitlines() or [type(error).__name__]
    return lines[0][:200]
