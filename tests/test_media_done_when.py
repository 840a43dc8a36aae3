"""Issue 11's "done when", as a test through all services and the WhatsApp sandbox: the sandbox
customer sends a voice note and a photo; the conversation shows the transcript and the photo in
its gallery; the assistant (an `openai:` vision model, applied from YAML, its SDK pointed at a
local OpenAI-protocol server) is asked once, with the transcript and the photo as an image part,
and its reply addresses both; then an operator sends a PDF that the customer receives, followed
by a text."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PHONE_NUMBER_ID, Platform
from tests.test_assistant_bursts import apply_salon
from tests.test_end_to_end import customer_number
from tests.test_media_end_to_end import customer_sends, session_events
from tests.test_operator_files import header_for, operator_messages, pdf_start, send_files
from threadline.ai_responder.adapters.outbound.models import ModelSettings
from threadline.ai_responder.adapters.outbound.transcribers import transcriber_for
from threadline.ai_responder.application.ports import AssistantModel
from threadline.ai_responder.application.transcription import Transcriber
from threadline.contracts.analytics.v1 import analytics_pb2 as analytics_pb
from threadline.testing import eventually
from threadline.testing.model_servers import OpenAIServer, ToolCallAnswer, TranscriptAnswer

HEARD = "Hello, do you have a table for two tonight at eight?"
ANSWER = "Yes, a table for two at eight, and that terrace in your photo is where we'd seat you!"
SEEN = "A restaurant terrace with string lights."
PDF = b"%PDF-1.4\n" + b"menu: soup, fish, cake\n" * 500


@pytest.fixture
def assistant_model(
    model_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AssistantModel | None]:
    """The assistant's model built from its name and the environment, as in a deployment."""
    monkeypatch.setenv("OPENAI_BASE_URL", model_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    yield None


@pytest.fixture
async def transcriber(model_server: OpenAIServer) -> AsyncIterator[Transcriber]:
    env = {"OPENAI_BASE_URL": model_server.base_url, "OPENAI_API_KEY": "sk-test"}
    heard = transcriber_for("openai:whisper-1", env, ModelSettings(timeout_seconds=10.0))
    yield heard
    await heard.close()


async def gallery(platform: Platform, conversation_id: str) -> list[dict[str, Any]]:
    """The conversation's attachments (what the gateway's gallery lists), from analytics."""
    listed = await platform.analytics.ListAttachments(
        analytics_pb.ListAttachmentsRequest(conversation_id=conversation_id),
        metadata=platform.auth,
    )
    return [
        {
            "direction": a.direction,
            "type": a.media_type,
            "status": a.status,
            "transcript": a.transcript.text,
        }
        for a in listed.attachments
    ]


async def test_a_voice_note_and_a_photo_are_heard_seen_and_answered_then_an_operator_sends_a_pdf(
    platform: Platform, model_server: OpenAIServer, tmp_path: Path
) -> None:
    # A reply delay long enough for the photo to join the voice note's burst.
    await apply_salon(platform, tmp_path, delay=1.5)
    model_server.script(
        TranscriptAnswer(HEARD, "en"),
        ToolCallAnswer("reply", {"kind": "text", "text": ANSWER, "interpretation": SEEN}),
    )
    wa_id = customer_number()

    voice = await customer_sends(
        platform, wa_id, {"phone_number_id": PHONE_NUMBER_ID, "type": "audio"}
    )
    photo = await customer_sends(
        platform,
        wa_id,
        {"phone_number_id": PHONE_NUMBER_ID, "type": "image", "caption": "can we sit here?"},
    )

    await eventually(lambda: len(platform.sandbox.outbox.messages(to=wa_id)) == 1, timeout=30)
    await asyncio.sleep(2.0)  # past the reply delay: a second reply would be out by now
    (reply,) = platform.sandbox.outbox.messages(to=wa_id)
    assert reply.request["text"] == {"body": ANSWER, "preview_url": False}
    transcription, chat = model_server.requests  # heard once, asked once
    assert transcription.path.endswith("/audio/transcriptions")
    turns = [m["content"] for m in chat.body["messages"] if m["role"] == "user"]
    assert f"[voice note] {HEARD}" in str(turns)
    image_parts = [
        part
        for turn in turns
        if isinstance(turn, list)
        for part in turn
        if part.get("type") == "image_url"
    ]
    (image_part,) = image_parts
    original = platform.sandbox.media.get(photo["media_id"])
    assert original is not None
    assert base64.b64decode(image_part["image_url"]["url"].split(",", 1)[1]) == original.data

    events = await session_events(platform)
    (queued,) = [
        e.outbound_message_queued
        for e in events
        if e.HasField("outbound_message_queued")
        and e.outbound_message_queued.recipient.wa_id == wa_id
    ]
    assert queued.interpretation == SEEN
    assert set(queued.covered_message_ids) >= {
        e.customer_message_received.message_id
        for e in events
        if e.HasField("customer_message_received")
        and e.customer_message_received.wamid in (voice["wamid"], photo["wamid"])
    }
    conversation_id = next(
        e.aggregate_id
        for e in events
        if e.HasField("customer_message_received")
        and e.customer_message_received.wamid == voice["wamid"]
    )

    # The operator sends a PDF, then a text: the customer receives both, in that order.
    await send_files(
        platform,
        header_for(wa_id, "menu-1", text="Here is tonight's menu."),
        [(pdf_start(PDF, caption="Your quote"), PDF)],
    )
    document, text = await operator_messages(platform, wa_id, 2)
    document_request: Any = document.request
    uploaded = platform.sandbox.media.get(document_request["document"]["id"])
    assert uploaded is not None and uploaded.data == PDF
    assert text.request["text"] == {"body": "Here is tonight's menu.", "preview_url": False}

    async def listed() -> bool:
        return len(await gallery(platform, conversation_id)) == 3

    await eventually(listed, timeout=30)
    listed_by_type = sorted(await gallery(platform, conversation_id), key=lambda a: a["type"])
    assert listed_by_type == [
        {"direction": "inbound", "type": "audio", "status": "stored", "transcript": HEARD},
        {"direction": "outbound", "type": "document", "status": "stored", "transcript": ""},
        {"direction": "inbound", "type": "image", "status": "stored", "transcript": ""},
    ]
