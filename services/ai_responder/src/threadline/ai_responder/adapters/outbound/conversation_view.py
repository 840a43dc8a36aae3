"""The AI responder's view of conversations in a JetStream KeyValue bucket, shared by every
responder process and every restart (`ConversationViews`).

Keys: `c.<conversation id>` → the conversation as JSON (who, which number, paused or not, its
newest messages); `k.<contact id>` → the contact's newest conversations (id, business number,
start), so a returning customer's earlier conversations are found without a scan. Every change
is a compare-and-set (`change_value`), so two responders applying events of one conversation at
once lose nothing; applying an event twice changes nothing. Kept `KEEP_FOR` after the last
change: the memory of a customer who has not written for that long is forgotten."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Final

from nats.js import JetStreamContext
from nats.js.errors import KeyDeletedError, KeyNotFoundError
from nats.js.kv import KeyValue

from threadline.ai_responder.application.view_ports import (
    MAX_CHARACTERS,
    MAX_MESSAGES,
    VOICE_TRANSCRIBED,
    VOICE_UNHEARD,
    ConversationView,
    ViewedMessage,
)
from threadline.ai_responder.domain.attachment import Attachment
from threadline.ai_responder.domain.customer_message import Choice
from threadline.messaging.key_value import (
    KnownValues,
    bucket_answers,
    change_value,
    open_bucket,
    plain_key,
    read_value,
)
from threadline.servicekit.ops_http import ReadinessCheck

BUCKET: Final = "AI_RESPONDER_CONVERSATIONS"
KEEP_FOR: Final = timedelta(days=90)
CONTACT_CONVERSATIONS: Final = 20  # a contact's conversations remembered


class KeyValueConversationViews:
    def __init__(self, bucket: KeyValue) -> None:
        self._bucket = bucket
        # What this process last wrote or read of each view: a change tries it before reading.
        self._known = KnownValues()

    @classmethod
    async def open(cls, js: JetStreamContext, *, namespace: str = "") -> KeyValueConversationViews:
        bucket = await open_bucket(
            js,
            BUCKET,
            namespace=namespace,
            keep_for=KEEP_FOR,
            description="ai_responder: its view of conversations and of contacts' conversations",
        )
        return cls(bucket)

    def check(self) -> ReadinessCheck:
        return bucket_answers(self._bucket, "the conversations' bucket")

    async def started(
        self,
        conversation_id: str,
        *,
        contact_id: str,
        business_number: str,
        customer_name: str,
        started_at: datetime,
    ) -> None:
        def start(view: ConversationView) -> ConversationView:
            return replace(
                view,
                contact_id=contact_id,
                business_number=business_number,
                customer_name=customer_name or view.customer_name,
                started_at=started_at,
            )

        await self._change(conversation_id, start)
        if not contact_id:
            return

        def remember(raw: bytes | None) -> bytes:
            known = [c for c in _list(raw) if c[0] != conversation_id]
            known.append([conversation_id, business_number, started_at.isoformat()])
            known.sort(key=lambda c: str(c[2]))
            return json.dumps(known[-CONTACT_CONVERSATIONS:]).encode()

        await change_value(self._bucket, plain_key("k", contact_id), remember, known=self._known)

    async def said(self, conversation_id: str, message: ViewedMessage) -> ConversationView:
        def add(view: ConversationView) -> ConversationView:
            if any(m.message_id == message.message_id for m in view.messages):
                return view
            messages = sorted((*view.messages, message), key=lambda m: m.position)
            return replace(view, messages=_bounded(messages))

        return await self._change(conversation_id, add)

    async def heard(self, conversation_id: str, message_id: str, *, transcript: str | None) -> None:
        def hear(view: ConversationView) -> ConversationView:
            messages = tuple(
                replace(
                    m,
                    type=VOICE_TRANSCRIBED if transcript is not None else VOICE_UNHEARD,
                    text=transcript or "",
                    awaiting_transcript=False,
                )
                if m.message_id == message_id and m.role == "customer"
                else m
                for m in view.messages
            )
            return replace(view, messages=messages)

        await self._change(conversation_id, hear)

    async def attached(self, conversation_id: str, message_id: str, attachment: Attachment) -> None:
        def attach(view: ConversationView) -> ConversationView:
            messages = tuple(
                replace(m, attachment=_merged(m.attachment, attachment), awaiting_attachment=False)
                if m.message_id == message_id and m.role == "customer"
                else m
                for m in view.messages
            )
            return replace(view, messages=messages)

        await self._change(conversation_id, attach)

    async def paused(self, conversation_id: str, *, paused: bool, position: int) -> None:
        def pause(view: ConversationView) -> ConversationView:
            if position <= view.paused_position:  # an older event, read late
                return view
            return replace(view, ai_paused=paused, paused_position=position)

        await self._change(conversation_id, pause)

    async def conversation(self, conversation_id: str) -> ConversationView | None:
        value, _ = await read_value(
            self._bucket, plain_key("c", conversation_id), known=self._known
        )
        return _from_json(conversation_id, value) if value else None

    async def earlier(self, view: ConversationView, *, limit: int) -> list[ConversationView]:
        if not view.contact_id or limit <= 0:
            return []
        try:
            entry = await self._bucket.get(plain_key("k", view.contact_id))
        except (KeyNotFoundError, KeyDeletedError):
            return []
        found: list[ConversationView] = []
        for conversation_id, number, _ in reversed(_list(entry.value)):
            if len(found) == limit:
                break
            if conversation_id == view.conversation_id or number != view.business_number:
                continue
            earlier = await self.conversation(str(conversation_id))
            if earlier is not None and earlier.messages:
                found.append(earlier)
        return found

    async def _change(
        self, conversation_id: str, change: Callable[[ConversationView], ConversationView]
    ) -> ConversationView:
        changed = ConversationView(conversation_id)

        def apply(raw: bytes | None) -> bytes:
            nonlocal changed
            view = _from_json(conversation_id, raw) if raw else ConversationView(conversation_id)
            changed = change(view)
            return _to_json(changed)

        # The view as last computed is what the key now holds (written, or unchanged).
        await change_value(self._bucket, plain_key("c", conversation_id), apply, known=self._known)
        return changed


def _bounded(messages: list[ViewedMessage]) -> tuple[ViewedMessage, ...]:
    """The newest messages within `MAX_MESSAGES` and `MAX_CHARACTERS`."""
    kept: list[ViewedMessage] = []
    characters = 0
    for message in reversed(messages[-MAX_MESSAGES:]):
        characters += len(message.text)
        if kept and characters > MAX_CHARACTERS:
            break
        kept.append(message)
    return tuple(reversed(kept))


def _list(raw: bytes | None) -> list[list[Any]]:
    if not raw:
        return []
    value = json.loads(raw)
    return value if isinstance(value, list) else []


def _to_json(view: ConversationView) -> bytes:
    return json.dumps(
        {
            "contact": view.contact_id,
            "number": view.business_number,
            "name": view.customer_name,
            "started": view.started_at.isoformat() if view.started_at else None,
            "paused": view.ai_paused,
            "paused_at": view.paused_position,
            "messages": [
                [
                    m.position,
                    m.message_id,
                    m.role,
                    m.text,
                    m.type,
                    m.sent_at.isoformat() if m.sent_at else None,
                    m.wamid,
                    m.awaiting_transcript,
                    _attachment_fields(m.attachment),
                    m.awaiting_attachment,
                    [m.choice.id, m.choice.title, m.choice.description] if m.choice else None,
                ]
                for m in view.messages
            ],
        },
        ensure_ascii=False,
    ).encode()


def _from_json(conversation_id: str, raw: bytes) -> ConversationView:
    data = json.loads(raw)
    return ConversationView(
        conversation_id=conversation_id,
        contact_id=data.get("contact", ""),
        business_number=data.get("number", ""),
        customer_name=data.get("name", ""),
        started_at=datetime.fromisoformat(data["started"]) if data.get("started") else None,
        ai_paused=bool(data.get("paused", False)),
        paused_position=int(data.get("paused_at", 0)),
        messages=tuple(_message(fields) for fields in data.get("messages", [])),
    )


def _message(fields: list[Any]) -> ViewedMessage:
    """A message as stored: [position, id, role, text, type, sent_at, wamid, awaiting
    transcript, attachment, awaiting attachment, choice] (the three before the last added with
    issue 11, the choice with issue 12: absent in views written before)."""
    position, message_id, role, text, kind, sent_at, wamid = fields[:7]
    return ViewedMessage(
        position=int(position),
        message_id=message_id,
        role="assistant" if role == "assistant" else "customer",
        text=text,
        type=kind,
        sent_at=datetime.fromisoformat(sent_at) if sent_at else None,
        wamid=wamid,
        awaiting_transcript=bool(fields[7]) if len(fields) > 7 else False,
        attachment=_attachment(fields[8]) if len(fields) > 8 else None,
        awaiting_attachment=bool(fields[9]) if len(fields) > 9 else False,
        choice=_choice(fields[10]) if len(fields) > 10 else None,
    )


def _choice(fields: Any) -> Choice | None:
    if not isinstance(fields, list) or len(fields) < 3:
        return None
    return Choice(id=str(fields[0]), title=str(fields[1]), description=str(fields[2]))


def _merged(declared: Attachment | None, kept: Attachment) -> Attachment:
    """The file as kept (or not), what the message declared filling in what it leaves out."""
    if declared is None:
        return kept
    return replace(
        kept,
        content_type=kept.content_type or declared.content_type,
        file_name=kept.file_name or declared.file_name,
        caption=kept.caption or declared.caption,
    )


def _attachment_fields(attachment: Attachment | None) -> list[Any] | None:
    if attachment is None:
        return None
    a = attachment
    return [a.media_type, a.content_type, a.file_name, a.caption, a.size, a.location, a.failed]


def _attachment(fields: Any) -> Attachment | None:
    if not isinstance(fields, list) or len(fields) < 7:
        return None
    media_type, content_type, file_name, caption, size, location, failed = fields[:7]
    return Attachment(
        media_type=str(media_type),
        content_type=str(content_type),
        file_name=str(file_name),
        caption=str(caption),
        size=int(size),
        location=str(location),
        failed=str(failed),
    )
