"""An operator's files, then the text (issue 11 items 5 and 6), once the files are kept: one
queued message per file, then the text, all of one reply, and each file recorded as the
conversation's outbound attachment so the gallery lists it.

Ids derive from the conversation and the idempotency key, so a retried call (same key) finds
the messages queued and queues nothing new: the reply's id is the key's, a file's is
`<key>/file/<n>`, the text's `<key>/text`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from threadline.session.domain.attachments import OUTBOUND
from threadline.session.domain.conversation import Conversation
from threadline.session.domain.identity import requested_message_id
from threadline.session.domain.operator_files import OutgoingMedia, ReplyPlace


@dataclass(frozen=True, slots=True)
class FilesRequest:
    """An operator's `SendFiles` once its files are kept: into a conversation, or to a customer
    of a business number (as `SendMessage`)."""

    files: tuple[OutgoingMedia, ...]
    text: str
    idempotency_key: str
    conversation_id: UUID | None = None
    phone_number_id: str = ""
    customer_wa_id: str = ""
    author: str = "agent"
    quoted_message_id: str = ""  # the reply's first message quotes it
    trace: str = ""  # the caller's `traceparent`, carried by every message it queues


def reply_message_ids(conversation_id: UUID, request: FilesRequest) -> list[UUID]:
    """The ids of the reply's messages, in the order they are sent: the files, then the text."""
    key = request.idempotency_key
    ids = [
        requested_message_id(conversation_id, f"{key}/file/{n}") for n in range(len(request.files))
    ]
    if request.text:
        ids.append(requested_message_id(conversation_id, f"{key}/text"))
    return ids


def queue_files(
    talk: Conversation, request: FilesRequest, *, now: datetime, usable_templates: list[str]
) -> list[UUID]:
    """Queue the reply's messages (each one already queued is left as it is) and record every
    file as an outbound attachment of its message; the ids in sending order."""
    ids = reply_message_ids(talk.id, request)
    reply_id = str(requested_message_id(talk.id, request.idempotency_key))
    for part, message_id in enumerate(ids):
        place = ReplyPlace(reply_id=reply_id, part=part, parts=len(ids))
        media = request.files[part] if part < len(request.files) else None
        content = media.content() if media else {"type": "text", "text": request.text}
        queued = talk.queue_outbound(
            message_id=message_id,
            author=request.author,
            content=content,
            now=now,
            usable_templates=usable_templates,
            quoted_message_id=request.quoted_message_id if part == 0 else "",
            media=media,
            reply=place,
            trace=request.trace,
        )
        if queued and media is not None:
            talk.store_attachment(
                message_id=message_id,
                media_id="",
                media_type=media.media_type,
                content_type=media.content_type,
                size=media.size,
                sha256=media.sha256,
                file_name=media.file_name,
                caption=media.caption,
                voice=False,
                location=media.location,
                kept_at=now,
                direction=OUTBOUND,
            )
    return ids
