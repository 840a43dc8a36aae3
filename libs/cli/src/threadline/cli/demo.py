"""`threadline demo`: play a customer through the sandbox and print the conversation.

The customer writes a text, or sends a file (the sandbox's sample photo, PDF or voice note, or a
file of one's own); the printed conversation then shows the media message with what analytics
knows of it: the attachment kept (or why not) and a voice note's transcript.
"""

from __future__ import annotations

import asyncio
import base64
import json
import mimetypes
import random
import time
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import aiohttp
import grpc

from threadline.cli.devstate import DevState
from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.contracts.analytics.v1 import analytics_pb2_grpc as pb_grpc

FINAL = {"delivered", "read"}
DEFAULT_TEXT = "Hello! Do you deliver on Saturdays?"


@dataclass(frozen=True, slots=True)
class Media:
    """A file the customer sends: `kind` as the sandbox names it (image, document, audio).

    Without `path` the sandbox sends its own sample of that kind.
    """

    kind: str
    caption: str | None = None
    path: Path | None = None

    @classmethod
    def of_file(cls, path: Path, caption: str | None = None) -> Media:
        """A file of one's own, its kind from its guessed MIME type (a document unless it is
        an image or audio)."""
        mime_type = _mime_type(path)
        kind = mime_type.split("/")[0]
        return cls(kind if kind in ("image", "audio") else "document", caption, path)

    def request(self, phone_number_id: str) -> dict[str, Any]:
        """The sandbox's customer-message request for this file."""
        if self.caption is not None and self.kind == "audio":
            raise ValueError("a voice note or audio has no caption on WhatsApp")
        body: dict[str, Any] = {"phone_number_id": phone_number_id, "type": self.kind}
        if self.caption is not None:
            body["caption"] = self.caption
        if self.path is not None:
            body["file_base64"] = base64.b64encode(self.path.read_bytes()).decode("ascii")
            body["mime_type"] = _mime_type(self.path)
            if self.kind == "document":
                body["filename"] = self.path.name
        return body

    def describe(self) -> str:
        named = self.path.name if self.path is not None else "the sandbox's sample"
        said = f" captioned {self.caption!r}" if self.caption else ""
        return f"sent {'a voice note' if self.kind == 'audio' else f'a {self.kind}'}" + (
            f" ({named}){said}"
        )


def _mime_type(path: Path) -> str:
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


async def run_demo(
    text: str = DEFAULT_TEXT,
    *,
    media: Media | None = None,
    timeout: float = 30.0,
    customer: str | None = None,
) -> int:
    """`customer` (a wa_id) writes again in their conversation; by default a new customer."""
    state = DevState.load()
    wa_id = customer or f"1555{random.randrange(10**7):07d}"
    if media is None:
        body: dict[str, Any] = {"phone_number_id": state.phone_number_id, "text": text}
        said = f"wrote {text!r}"
    else:
        try:
            body = media.request(state.phone_number_id)
        except (OSError, ValueError) as error:
            print(f"cannot send that file: {error}")
            return 2
        said = media.describe()
    body["profile_name"] = "Ana"
    async with aiohttp.ClientSession() as http:
        answer = await send_as_customer(http, state.sandbox_url, wa_id, body)
    if answer is None:
        return 1
    print(f"Customer +{wa_id} {said} (wamid {answer['wamid']}); waiting for the reply…")
    metadata = (("authorization", f"Bearer {state.secrets.api_token}"),)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{state.ports.analytics_grpc}") as channel:
        queries = pb_grpc.ConversationQueriesStub(channel)
        conversation = await _wait_for_reply(queries, wa_id, answer["wamid"], metadata, timeout)
    if conversation is None:
        print("no delivered reply within the time allowed; see the platform's logs")
        return 1
    print(render(conversation))
    return 0


async def send_as_customer(
    http: aiohttp.ClientSession, sandbox_url: str, wa_id: str, body: dict[str, Any]
) -> dict[str, Any] | None:
    """The customer's message through the sandbox; its answer (`wamid`, and `media_id` for a
    file), or None, said why, when the platform's webhook did not take it."""
    url = f"{sandbox_url}/sandbox/customers/{wa_id}/messages"
    async with http.post(url, json=body) as response:
        answer: dict[str, Any] = await response.json()
        if response.status != 200 or answer.get("webhook_status") != 200:
            print(f"the sandbox could not deliver the message: {response.status} {answer}")
            return None
    return answer


async def _wait_for_reply(
    queries: pb_grpc.ConversationQueriesAsyncStub,
    wa_id: str,
    wamid: str,
    metadata: tuple[tuple[str, str], ...],
    timeout: float,
) -> pb.GetConversationResponse | None:
    """The conversation once its replies are delivered and its media told of; at the deadline,
    the last one with a delivered reply (what analytics did not record yet is left out)."""
    deadline = time.monotonic() + timeout
    replied: pb.GetConversationResponse | None = None
    while time.monotonic() < deadline:
        listed = await queries.ListConversations(
            pb.ListConversationsRequest(customer_phone=wa_id), metadata=metadata
        )
        if listed.conversations:
            found = await queries.GetConversation(
                pb.GetConversationRequest(conversation_id=listed.conversations[0].id),
                metadata=metadata,
            )
            if replies_delivered(found, wamid):
                replied = found
                if media_told(found):
                    return found
        await asyncio.sleep(0.25)
    return replied


def replies_delivered(found: pb.GetConversationResponse, wamid: str = "") -> bool:
    """Whether the customer's message `wamid` (by default their newest) is in the conversation
    and answered, every answer since it delivered (a customer writing again waits for the new
    answer, not the earlier one)."""
    messages = list(found.messages)
    users = [i for i, m in enumerate(messages) if m.role == "user" and wamid in ("", m.wamid)]
    if not users:
        return False
    replies = [m for m in messages[users[-1] + 1 :] if m.role == "assistant"]
    return bool(replies) and all(m.status in FINAL for m in replies)


def media_told(found: pb.GetConversationResponse) -> bool:
    """Whether every customer file has its attachment recorded, and every stored voice note its
    transcript (or why there is none)."""
    for m in found.messages:
        if m.role != "user" or m.type not in MEDIA_TYPES:
            continue
        attachment = _metadata(m).get("attachment")
        if not isinstance(attachment, dict):
            return False
        heard = attachment.get("status") != "stored" or not attachment.get("voice")
        transcript = _metadata(m).get("transcript", attachment.get("transcript"))
        if not heard and not isinstance(transcript, dict):
            return False
    return True


MEDIA_TYPES = {"image", "video", "audio", "document", "sticker"}
UNDER_CONTENT = " " * 39  # what a message's file is, printed under its content


def render(found: pb.GetConversationResponse) -> str:
    c = found.conversation
    lines = [
        f"Conversation {c.id}  {c.session_key}  status={c.status}  "
        f"messages={c.message_count}  lead={c.lead.name or c.lead_id}",
    ]
    for m in found.messages:
        at = m.created_at.ToDatetime(tzinfo=UTC).strftime("%H:%M:%S")
        who = m.author or m.role
        lines.append(f"  {at}  {who:<9} {m.type:<6} {m.status:<9} {m.content}")
        lines.extend(f"{UNDER_CONTENT}{line}" for line in media_lines(m))
    return "\n".join(lines)


def media_lines(message: pb.Message) -> list[str]:
    """What analytics says of a message's file: the attachment kept or why not, and a voice
    note's transcript or why there is none; nothing for what it does not know (yet)."""
    found = _metadata(message)
    attachment, lines = found.get("attachment"), []
    if isinstance(attachment, dict):
        if attachment.get("status") == "stored":
            named = f" {attachment['file_name']}" if attachment.get("file_name") else ""
            lines.append(
                f"attachment: stored {attachment.get('content_type', '')}{named}"
                f" {int(attachment.get('size', 0)):,} bytes"
            )
        else:
            refused = "refused" if attachment.get("refused") else "failed"
            lines.append(f"attachment: {refused}: {attachment.get('reason', '')}")
    transcript = found.get("transcript")
    if not isinstance(transcript, dict) and isinstance(attachment, dict):
        transcript = attachment.get("transcript")  # analytics shows it beside the audio too
    if isinstance(transcript, dict):
        if transcript.get("status") == "recorded":
            language = f" ({transcript['language']})" if transcript.get("language") else ""
            lines.append(f"transcript: {transcript.get('text', '')!r}{language}")
        else:
            lines.append(f"transcript: none: {transcript.get('reason', '')}")
    return lines


def _metadata(message: pb.Message) -> dict[str, Any]:
    try:
        parsed = json.loads(message.metadata_json or "{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
