"""Issue 11 items 1 and 2 through all services and the WhatsApp sandbox: a customer sends a
photo, a PDF and a voice note through the sandbox; outbound fetches each from the sandbox's Graph
API (`GET /{media-id}`, then the download URL with the bearer token), checks its hash, keeps it
in the media store, and the session records it as the conversation's attachment. A voice note is
transcribed by a local OpenAI-protocol server (the SDK's audio.transcriptions) and the assistant
answers the transcript."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import grpc
import pytest

from tests.conftest import PHONE_NUMBER_ID, Platform
from tests.openai_assistant import openai_assistant
from tests.test_end_to_end import customer_number
from threadline.ai_responder.adapters.outbound.models import ModelSettings
from threadline.ai_responder.adapters.outbound.transcribers import transcriber_for
from threadline.ai_responder.application.ports import AssistantModel
from threadline.ai_responder.application.transcription import Transcriber
from threadline.contracts.analytics.v1 import analytics_pb2 as analytics_pb
from threadline.contracts.session.v1 import session_pb2 as session_pb
from threadline.contracts.session.v1 import session_pb2_grpc as session_grpc
from threadline.media import FilesystemMediaStore
from threadline.testing import eventually
from threadline.testing.model_servers import OpenAIServer, ToolCallAnswer, TranscriptAnswer


async def customer_sends(platform: Platform, wa_id: str, body: dict[str, Any]) -> dict[str, Any]:
    url = f"{platform.sandbox.url}/sandbox/customers/{wa_id}/messages"
    async with aiohttp.ClientSession() as http, http.post(url, json=body) as response:
        answer: dict[str, Any] = await response.json()
        assert response.status == 200, answer
        return answer


async def session_events(platform: Platform) -> list[Any]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{platform.session_grpc_port}") as channel:
        call = session_grpc.EventLogStub(channel).ReadAll(
            session_pb.ReadAllRequest(from_position=1), metadata=platform.auth
        )
        return [event async for event in call]


async def test_a_photo_a_pdf_and_a_voice_note_are_kept_and_recorded_as_attachments(
    platform: Platform,
) -> None:
    wa_id = customer_number()
    sent = [
        await customer_sends(
            platform,
            wa_id,
            {"phone_number_id": PHONE_NUMBER_ID, "type": "image", "caption": "my broken screen"},
        ),
        await customer_sends(
            platform,
            wa_id,
            {"phone_number_id": PHONE_NUMBER_ID, "type": "document", "filename": "invoice.pdf"},
        ),
        await customer_sends(
            platform, wa_id, {"phone_number_id": PHONE_NUMBER_ID, "type": "audio"}
        ),
    ]
    media_ids = [answer["media_id"] for answer in sent]

    async def recorded() -> list[Any]:
        return [
            e.attachment_stored
            for e in await session_events(platform)
            if e.HasField("attachment_stored") and e.attachment_stored.media_id in media_ids
        ]

    await eventually(lambda: _count(recorded, 3), timeout=30)
    stored = {a.media_id: a for a in await recorded()}
    image, document, voice = (stored[m] for m in media_ids)
    assert (image.media_type, image.content_type, image.caption) == (
        "image",
        "image/png",
        "my broken screen",
    )
    assert (document.media_type, document.file_name) == ("document", "invoice.pdf")
    assert (voice.media_type, voice.voice) == ("audio", True)
    async with FilesystemMediaStore(platform.media_root) as store:
        for attachment, media_id in zip((image, document, voice), media_ids, strict=True):
            kept = await store.get(attachment.location)
            original = platform.sandbox.media.get(media_id)
            assert original is not None
            assert kept == original.data
            assert attachment.sha256 == hashlib.sha256(kept).hexdigest()
            assert attachment.size == len(kept)


async def _count(read: Any, n: int) -> bool:
    return len(await read()) >= n


@pytest.fixture
async def assistant_model(model_server: OpenAIServer) -> AsyncIterator[AssistantModel]:
    async with openai_assistant(model_server) as model:
        yield model


@pytest.fixture
async def transcriber(model_server: OpenAIServer) -> AsyncIterator[Transcriber]:
    """Voice notes heard by `model_server`'s /v1/audio/transcriptions, through the SDK."""
    env = {"OPENAI_BASE_URL": model_server.base_url, "OPENAI_API_KEY": "sk-test"}
    heard = transcriber_for("openai:whisper-1", env, ModelSettings(timeout_seconds=10.0))
    yield heard
    await heard.close()


async def test_a_voice_note_is_transcribed_and_the_assistant_answers_the_transcript(
    platform: Platform, model_server: OpenAIServer
) -> None:
    model_server.script(
        TranscriptAnswer("Hello, do you have a table for two tonight at eight?", "en"),
        ToolCallAnswer("reply", {"kind": "text", "text": "Yes! A table for two at eight."}),
    )
    wa_id = customer_number()

    sent = await customer_sends(
        platform, wa_id, {"phone_number_id": PHONE_NUMBER_ID, "type": "audio"}
    )

    await eventually(lambda: len(platform.sandbox.outbox.messages(to=wa_id)) == 1, timeout=30)
    heard, asked = model_server.requests
    assert heard.path.endswith("/audio/transcriptions") and heard.file is not None
    original = platform.sandbox.media.get(sent["media_id"])
    assert original is not None and heard.file.data == original.data
    user_turns = [m["content"] for m in asked.body["messages"] if m["role"] == "user"]
    assert user_turns == ["[voice note] Hello, do you have a table for two tonight at eight?"]
    (reply,) = platform.sandbox.outbox.messages(to=wa_id)
    request: Any = reply.request
    assert request["text"]["body"] == "Yes! A table for two at eight."
    events = await session_events(platform)
    (recorded,) = [e.transcript_recorded for e in events if e.HasField("transcript_recorded")]
    assert recorded.text.startswith("Hello, do you have a table")


async def test_a_photo_reaches_the_model_as_an_image_part_and_the_reply_records_what_it_saw(
    platform: Platform, model_server: OpenAIServer
) -> None:
    """Issue 11 item 3: the burst waits for the photo to be kept; the vision model is shown
    it (an `image_url` part, a base64 data URL of exactly the kept bytes) with its caption
    beside it, and what it says it saw is recorded with the reply the session queues."""
    model_server.script(
        ToolCallAnswer(
            "reply",
            {
                "kind": "text",
                "text": "Sorry about your screen! We can replace it today.",
                "interpretation": "A phone whose screen is cracked across the top corner.",
            },
        )
    )
    wa_id = customer_number()

    sent = await customer_sends(
        platform,
        wa_id,
        {"phone_number_id": PHONE_NUMBER_ID, "type": "image", "caption": "my broken screen"},
    )

    await eventually(lambda: len(platform.sandbox.outbox.messages(to=wa_id)) == 1, timeout=30)
    (asked,) = model_server.requests
    (user_turn,) = [m["content"] for m in asked.body["messages"] if m["role"] == "user"]
    image_part, text_part = user_turn
    assert image_part["type"] == "image_url"
    prefix, encoded = image_part["image_url"]["url"].split(",", 1)
    assert prefix == "data:image/png;base64"
    original = platform.sandbox.media.get(sent["media_id"])
    assert original is not None and base64.b64decode(encoded) == original.data
    assert text_part["type"] == "text" and 'caption "my broken screen"' in text_part["text"]
    (reply_tool,) = [t for t in asked.body["tools"] if t["function"]["name"] == "reply"]
    assert "interpretation" in reply_tool["function"]["parameters"]["required"]
    (reply,) = platform.sandbox.outbox.messages(to=wa_id)
    request: Any = reply.request
    assert request["text"]["body"] == "Sorry about your screen! We can replace it today."
    seen = "A phone whose screen is cracked across the top corner."
    (queued,) = [
        e
        for e in await session_events(platform)
        if e.HasField("outbound_message_queued")
        and e.outbound_message_queued.recipient.wa_id == wa_id
    ]
    assert queued.outbound_message_queued.interpretation == seen

    async def shown_by_analytics() -> bool:
        listed = await platform.analytics.ListMessages(
            analytics_pb.ListMessagesRequest(conversation_id=queued.aggregate_id),
            metadata=platform.auth,
        )
        return [m.interpretation for m in listed.messages if m.role == "assistant"] == [seen]

    await eventually(shown_by_analytics, timeout=30)
