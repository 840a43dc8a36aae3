"""A batch's `Changes` applied to rows in memory, exactly as the live projection's `writer`
applies them with SQL: the same sixteen steps in the same order, each one the Python reading
of its statement in `adapters/outbound/read_models/statements.py` (the tests hold the two
equal, table by table).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from threadline.analytics.application.write.rebuild.tables import (
    ATTACHMENTS,
    BUSINESS_NUMBERS,
    CONTACT_KEYS,
    CONTACTS,
    CONVERSATIONS,
    MESSAGES,
    RESPONSE_FACTS,
    TEMPLATES,
    TOOL_CALLS,
    Row,
)
from threadline.analytics.application.write.rebuild.working_set import WorkingSet
from threadline.analytics.domain.write.changes import Changes
from threadline.analytics.domain.write.rows_and_patches import (
    ConversationPatch,
    ConversationRow,
    MessagePatch,
    MessageRow,
    Reply,
    ResponseFact,
)

T = TypeVar("T")
# Every field of `Changes` this module applies; a new one must be taught here (tested).
APPLIED = frozenset(
    {
        "numbers",
        "number_patches",
        "templates",
        "contacts",
        "contact_patches",
        "contact_keys",
        "conversations",
        "conversation_patches",
        "messages",
        "patches",
        "waiting",
        "replies",
        "charges",
        "attachments",
        "transcripts",
        "tool_calls",
    }
)
ZERO = Decimal(0)


def _or(value: T | None, current: T) -> T:
    """`coalesce(%(value)s, column)`."""
    return current if value is None else value


def _greatest(a: datetime | None, b: datetime | None) -> datetime | None:
    """PostgreSQL's `greatest`, which ignores NULLs."""
    if a is None or b is None:
        return a if b is None else b
    return max(a, b)


def apply(changes: Changes, rows: WorkingSet) -> None:
    """Change `rows` as `writer.write(connection, changes)` changes the tables."""
    _business_numbers(changes, rows)
    _templates(changes, rows)
    _contacts(changes, rows)
    for key in changes.contact_keys.values():
        rows.insert_missing(CONTACT_KEYS, _columns(key))
    for conversation in changes.conversations.values():
        rows.insert(CONVERSATIONS, _new_conversation(conversation))
    for message in changes.messages.values():
        rows.insert(MESSAGES, _new_message(message))
    _await_answers(changes, rows)
    for message_id, patch in changes.patches.items():
        _patch_message(rows, message_id, patch)
    _charge(changes, rows)
    for conversation_id, conversation_patch in changes.conversation_patches.items():
        _patch_conversation(rows, conversation_id, conversation_patch)
    for reply in changes.replies:
        _answer(rows, reply)
    _attachments(changes, rows)
    _transcripts(changes, rows)
    for call in changes.tool_calls.values():
        rows.insert_missing(TOOL_CALLS, _columns(call))


def _columns(row: Any) -> Row:
    """A row dataclass's fields as a dict (one compiled builder per row type)."""
    build = _BUILDERS.get(type(row))
    if build is None:
        build = _BUILDERS[type(row)] = row_builder(type(row))
    return build(row)


def row_builder(cls: type, **constants: Any) -> Callable[[Any], Row]:
    """A function making the dict of a row dataclass's fields, then `constants` (values
    shared by every row, so immutable ones only), as one dict display: built at its full size
    at once, in about half the time of `dict(zip(names, attrgetter(*names)(row)))` — a
    replay builds half a million of them. Generated once per row type, as `dataclasses`
    generates `__init__`."""
    names = [column.name for column in fields(cls)]
    if "row" in constants or not all(name.isidentifier() for name in [*names, *constants]):
        raise ValueError(f"{cls.__name__}: columns must be identifiers other than 'row'")
    if clash := sorted(set(names) & set(constants)):
        raise ValueError(f"{cls.__name__} has the fields {clash} already")
    items = [f"{name!r}: row.{name}" for name in names]
    items += [f"{name!r}: {name}" for name in constants]
    namespace: dict[str, Any] = dict(constants)
    exec(f"def build(row):\n    return {{{', '.join(items)}}}", namespace)
    build: Callable[[Any], Row] = namespace["build"]
    return build


_BUILDERS: dict[type, Callable[[Any], Row]] = {}


def _business_numbers(changes: Changes, rows: WorkingSet) -> None:
    for number in changes.numbers.values():
        new = {**_columns(number), "autopilot": True, "auto_resolve_hours": 12}
        rows.insert_missing(BUSINESS_NUMBERS, {**new, "updated_at": number.registered_at})
    for number_id, patch in changes.number_patches.items():
        row = rows.get(BUSINESS_NUMBERS, number_id)
        if row is not None:
            row["autopilot"] = _or(patch.autopilot, row["autopilot"])
            row["auto_resolve_hours"] = _or(patch.auto_resolve_hours, row["auto_resolve_hours"])
            row["updated_at"] = patch.updated_at
            rows.touch(BUSINESS_NUMBERS, number_id)


def _templates(changes: Changes, rows: WorkingSet) -> None:
    for key, template in changes.templates.items():
        row = rows.get(TEMPLATES, key)
        if row is not None:
            row["category"], row["body"] = template.category, template.body
            row["parameter_count"] = template.parameter_count
            row["updated_at"] = template.updated_at or template.registered_at
            rows.touch(TEMPLATES, key)
            continue
        number = rows.get(BUSINESS_NUMBERS, template.number_id)
        new = _columns(template)
        new["business_number"] = number["phone_number_id"] if number else ""
        new["updated_at"] = template.updated_at or template.registered_at
        rows.insert(TEMPLATES, new)


def _contacts(changes: Changes, rows: WorkingSet) -> None:
    for contact in changes.contacts.values():
        row = rows.get(CONTACTS, contact.id)
        if row is None:
            new = _columns(contact)
            new["created_at"] = new["updated_at"] = new.pop("registered_at")
            new["email"], new["data"] = "", {}
            rows.insert(CONTACTS, new)
            continue
        row["wa_id"] = contact.wa_id or row["wa_id"]
        row["user_id"] = contact.user_id or row["user_id"]
        row["name"] = contact.name or row["name"]
        row["updated_at"] = contact.registered_at
        rows.touch(CONTACTS, contact.id)
    for contact_id, patch in changes.contact_patches.items():
        row = rows.get(CONTACTS, contact_id)
        if row is not None:
            row["wa_id"] = row["wa_id"] or _or(patch.wa_id, "")
            row["user_id"] = row["user_id"] or _or(patch.user_id, "")
            row["name"] = _or(patch.name, row["name"])
            row["email"] = _or(patch.email, row["email"])
            row["data"] = {**row["data"], **patch.data}  # `data || %(data)s`
            row["updated_at"] = patch.updated_at
            rows.touch(CONTACTS, contact_id)


def _new_conversation(conversation: ConversationRow) -> Row:
    row = _NEW_CONVERSATION(conversation)
    row["updated_at"] = conversation.created_at
    row["session_data"] = {}
    return row


# A new conversation's columns beyond its row's facts (immutable values).
_NEW_CONVERSATION = row_builder(
    ConversationRow,
    updated_at=None,
    message_count=0,
    last_message_at=None,
    last_message_preview="",
    assistant="",
    ai_paused=False,
    status_reason="",
    status_changed_by="",
    status_changed_at=None,
    closed_at=None,
    hand_offs=0,
    flow_id="",
    flow_step="",
    flow_completed=False,
    session_data=None,
    flow_expires_at=None,
    flow_status="",
    first_customer_message_at=None,
    last_inbound_at=None,
    free_entry_until=None,
    prompt_tokens=0,
    completion_tokens=0,
    llm_cost=ZERO,
    whatsapp_cost=ZERO,
    assistant_version=0,
    cached_tokens=0,
    discarded_generations=0,
    discarded_llm_cost=ZERO,
)


def _new_message(message: MessageRow) -> Row:
    row = _NEW_MESSAGE(message)
    row["updated_at"] = message.created_at
    row["status_history"] = list(message.status_history)
    row["citations"] = list(message.citations)
    row["edits"], row["reactions"] = [], []
    return row


# A new message's columns beyond its row's facts (immutable values; the lists are made per
# row, over the placeholders).
_NEW_MESSAGE = row_builder(
    MessageRow,
    pricing=None,
    whatsapp_cost=None,
    error_code=None,
    error_title="",
    original_content=None,
    deleted=False,
    deleted_at=None,
    reaction="",
    updated_at=None,
    edits=None,
    reactions=None,
)


def _await_answers(changes: Changes, rows: WorkingSet) -> None:
    for fact in changes.waiting.values():
        conversation = rows.get(CONVERSATIONS, fact.conversation_id)
        row = _WAITING(fact)
        row["business_number"] = conversation["business_number"] if conversation else ""
        rows.insert(RESPONSE_FACTS, row)
        rows.waiting.setdefault(fact.conversation_id, []).append(row)


# A customer message waiting for its answer: its fact, not answered yet.
_WAITING = row_builder(
    ResponseFact,
    business_number="",
    answered_at=None,
    answered_by=None,
    reply_message_id=None,
    waited_since=None,
    response_seconds=None,
    first_unanswered=False,
)


def _patch_message(rows: WorkingSet, message_id: str, patch: MessagePatch) -> None:
    row = rows.get(MESSAGES, message_id)
    if row is None:
        return
    # Every right-hand side reads the row as it was, as in the UPDATE. Merging or appending
    # nothing leaves a value as it is (no copy made).
    old_content, old_original = row["content"], row["original_content"]
    if patch.wamid is not None:
        row["wamid"] = patch.wamid
    if patch.status is not None:
        row["status"] = patch.status
    if patch.metadata:
        row["metadata"] = {**row["metadata"], **patch.metadata}
    if patch.status_history:
        row["status_history"] = [*row["status_history"], *patch.status_history]
    if patch.pricing is not None:
        row["pricing"] = patch.pricing
    if patch.error_code is not None:
        row["error_code"] = patch.error_code
    if patch.error_title is not None:
        row["error_title"] = patch.error_title
    if patch.content is not None:
        row["original_content"] = _or(old_original, old_content)
        row["content"] = patch.content
    if patch.edits:
        row["edits"] = [*row["edits"], *patch.edits]
    if patch.deleted_at is not None:
        row["deleted"] = True
        row["deleted_at"] = _or(row["deleted_at"], patch.deleted_at)
    if patch.reaction is not None:
        row["reaction"] = patch.reaction
    if patch.reactions:
        row["reactions"] = [*row["reactions"], *patch.reactions]
    row["updated_at"] = patch.updated_at
    rows.touch(MESSAGES, message_id)


def _charge(changes: Changes, rows: WorkingSet) -> None:
    for charge in changes.charges.values():
        message = rows.get(MESSAGES, charge.message_id)
        if message is None or message["whatsapp_cost"] is not None:
            continue
        message["whatsapp_cost"] = charge.cost
        rows.touch(MESSAGES, charge.message_id)
        conversation = rows.get(CONVERSATIONS, message["conversation_id"])
        if conversation is not None:
            conversation["whatsapp_cost"] += charge.cost
            rows.touch(CONVERSATIONS, message["conversation_id"])


def _patch_conversation(rows: WorkingSet, conversation_id: Any, patch: ConversationPatch) -> None:
    row = rows.get(CONVERSATIONS, conversation_id)
    if row is None:
        return
    # `coalesce(%(value)s, column)` for each column a patch may leave alone (None), written
    # out: this runs for every conversation of every batch.
    row["message_count"] += patch.added
    if patch.last_message_at is not None:
        row["last_message_at"] = patch.last_message_at
    if patch.preview is not None:
        row["last_message_preview"] = patch.preview
    if row["first_customer_message_at"] is None:
        row["first_customer_message_at"] = patch.first_customer_message_at
    row["last_inbound_at"] = _greatest(row["last_inbound_at"], patch.last_inbound_at)
    if patch.free_entry_until is not None:
        row["free_entry_until"] = patch.free_entry_until
    if patch.status is not None:
        row["status"] = patch.status
    if patch.ai_paused is not None:
        row["ai_paused"] = patch.ai_paused
    if patch.status_reason is not None:
        row["status_reason"] = patch.status_reason
    if patch.status_changed_by is not None:
        row["status_changed_by"] = patch.status_changed_by
    if patch.status_changed_at is not None:
        row["status_changed_at"] = patch.status_changed_at
    if patch.closed_at is not None:
        row["closed_at"] = patch.closed_at
    if patch.flow_id is not None:  # a flow step: its expiry, NULL included
        row["flow_id"] = patch.flow_id
        row["flow_expires_at"] = patch.flow_expires_at
    if patch.flow_step is not None:
        row["flow_step"] = patch.flow_step
    if patch.flow_completed is not None:
        row["flow_completed"] = patch.flow_completed
    if patch.flow_status is not None:
        row["flow_status"] = patch.flow_status
    if patch.session_data is not None:  # `session_data || %(session_data)s`
        row["session_data"] = {**row["session_data"], **patch.session_data}
    row["hand_offs"] += patch.hand_offs
    if patch.assistant_named or row["assistant"] == "":
        row["assistant"] = _or(patch.assistant, row["assistant"])
        row["assistant_version"] = patch.assistant_version
    row["prompt_tokens"] += patch.prompt_tokens
    row["completion_tokens"] += patch.completion_tokens
    row["cached_tokens"] += patch.cached_tokens
    row["llm_cost"] += patch.llm_cost  # (Decimals: adding zero may still change the scale)
    row["discarded_generations"] += patch.discarded_generations
    row["discarded_llm_cost"] += patch.discarded_llm_cost
    row["updated_at"] = _greatest(row["updated_at"], patch.updated_at)
    rows.touch(CONVERSATIONS, conversation_id)


def _answer(rows: WorkingSet, reply: Reply) -> None:
    """The reply answers every waiting message of its conversation recorded before it."""
    waiting = rows.waiting.get(reply.conversation_id)
    if not waiting:
        return
    count = 0
    while count < len(waiting) and waiting[count]["position"] < reply.position:
        count += 1
    if count == 0:
        return
    answered, rows.waiting[reply.conversation_id] = waiting[:count], waiting[count:]
    first = answered[0]
    seconds = max(0.0, (reply.at - first["received_at"]).total_seconds())
    for fact in answered:
        fact["answered_at"] = reply.at
        fact["answered_by"] = reply.author
        fact["reply_message_id"] = reply.message_id
        fact["waited_since"] = first["received_at"]
        fact["response_seconds"] = seconds
        fact["first_unanswered"] = fact is first
        rows.touch(RESPONSE_FACTS, fact["message_id"])


# What `UPSERT_ATTACHMENT` changes on a stored row: all but its conversation, position,
# creation time and transcript (a new row has none: the columns' defaults).
_ATTACHMENT_FACTS = tuple(
    name
    for name in ATTACHMENTS.names
    if name not in {"message_id", "conversation_id", "position", "created_at"}
    and not name.startswith("transcript")
)


def _attachments(changes: Changes, rows: WorkingSet) -> None:
    for attachment in changes.attachments.values():
        new = _columns(attachment)
        row = rows.get(ATTACHMENTS, attachment.message_id)
        if row is None:
            rows.insert(ATTACHMENTS, {**_NO_TRANSCRIPT, **new})
        elif row["conversation_id"] == attachment.conversation_id:
            for column in _ATTACHMENT_FACTS:
                row[column] = new[column]
            rows.touch(ATTACHMENTS, attachment.message_id)


_NO_TRANSCRIPT: Row = {
    "transcript_status": "",
    "transcript": "",
    "transcript_language": "",
    "transcript_model": "",
    "transcript_seconds": 0.0,
    "transcript_reason": "",
    "transcript_at": None,
}
# A transcript's facts by the column `UPSERT_TRANSCRIPT` writes them to.
_TRANSCRIPT_COLUMNS = {
    "transcript_status": "status",
    "transcript": "text",
    "transcript_language": "language",
    "transcript_model": "model",
    "transcript_seconds": "seconds",
    "transcript_reason": "reason",
    "transcript_at": "recorded_at",
}
# The row a transcript creates for a message with no attachment row yet (the columns' defaults
# but for those `UPSERT_TRANSCRIPT` names).
_PENDING_ATTACHMENT: Row = {
    **{name: "" for name, kind in ATTACHMENTS.columns if kind == "text"},
    **_NO_TRANSCRIPT,
    "size": 0,
    "voice": False,
    "refused": False,
    "direction": "inbound",
    "media_type": "audio",
    "status": "pending",
}


def _transcripts(changes: Changes, rows: WorkingSet) -> None:
    for transcript in changes.transcripts.values():
        heard = {column: getattr(transcript, name) for column, name in _TRANSCRIPT_COLUMNS.items()}
        row = rows.get(ATTACHMENTS, transcript.message_id)
        if row is None:
            rows.insert(
                ATTACHMENTS,
                {
                    **_PENDING_ATTACHMENT,
                    **heard,
                    "message_id": transcript.message_id,
                    "conversation_id": transcript.conversation_id,
                    "position": transcript.position,
                    "created_at": transcript.created_at,
                    "updated_at": transcript.created_at,
                },
            )
        elif row["conversation_id"] == transcript.conversation_id:
            row.update(heard)
            rows.touch(ATTACHMENTS, transcript.message_id)
