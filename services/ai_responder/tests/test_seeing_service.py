"""Images are seen, over real NATS (issue 11 item 3): a customer's photo is not answered before
the session records it kept; then the responder reads it from the media store, the local
OpenAI-protocol server is shown it, and the draft records what the model saw."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest
from nats.js import JetStreamContext

from threadline.ai_responder.adapters.outbound.models import ModelSettings, model_for
from threadline.ai_responder.bootstrap import bootstrap
from threadline.ai_responder.config import AiResponderConfig
from threadline.ai_responder.domain.attachment import readable_size
from threadline.contracts.events.v1 import ai_pb2, common_pb2
from threadline.contracts.events.v1 import session_pb2 as events
from threadline.media import FilesystemMediaStore
from threadline.messaging.topology import AI_EVENTS, SESSION_EVENT, Topology
from threadline.sandbox.sample_media import SAMPLES
from threadline.testing import eventually, unique_id
from threadline.testing.model_servers import OpenAIServer, ToolCallAnswer

PHOTO = SAMPLES["image"]
SEEN = "A phone whose screen is cracked across the top corner."


@pytest.fixture
async def model_server() -> AsyncIterator[OpenAIServer]:
    async with OpenAIServer() as server:
        yield server


class Session:
    """Publishes conversation events as the session does (positions in order)."""

    def __init__(self, js: JetStreamContext, topology: Topology, conversation_id: str) -> None:
        self._js, self._topology, self._position = js, topology, 0
        self.conversation_id = conversation_id

    async def publish(self, event: events.SessionEvent, name: str) -> None:
        self._position += 1
        event.aggregate_id = self.conversation_id
        event.event_id = unique_id("e-")
        event.position = self._position
        event.occurred_at.FromDatetime(datetime.now(UTC))
        subject = self._topology.publish_subject(
            SESSION_EVENT, aggregate="Conversation", event=name
        )
        await self._js.publish(subject, event.SerializeToString())


async def drafts(js: JetStreamContext, topology: Topology) -> list[ai_pb2.ReplyDrafted]:
    stream = topology.stream(AI_EVENTS)
    info = await js.stream_info(stream)
    found = []
    for sequence in range(1, info.state.last_seq + 1):
        message = await js.get_msg(stream, sequence)
        if (message.subject or "").endswith(".ReplyDrafted"):
            found.append(ai_pb2.ReplyDrafted.FromString(message.data))
    return found


async def test_a_photo_is_answered_once_kept_and_the_model_sees_it(
    nats_server_url: str, nats_namespace: str, model_server: OpenAIServer, tmp_path: Path
) -> None:
    env = {"THREADLINE_MEDIA_ROOT": str(tmp_path / "media")}
    config = AiResponderConfig.from_env(
        {
            **env,
            "THREADLINE_NATS_URL": nats_server_url,
            "THREADLINE_NATS_NAMESPACE": nats_namespace,
            "THREADLINE_AI_OPS_PORT": "0",
            "THREADLINE_AI_REPLY_DELAY_SECONDS": "0.05",
        }
    )
    model_server.script(
        ToolCallAnswer(
            "reply", {"kind": "text", "text": "Sorry about your screen!", "interpretation": SEEN}
        )
    )
    topology = Topology(nats_namespace)
    nc = await nats.connect(nats_server_url)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(nc.close)
        openai_env = {"OPENAI_BASE_URL": model_server.base_url, "OPENAI_API_KEY": "sk-test"}
        model = model_for("openai:gpt-4.1-mini", openai_env, ModelSettings(timeout_seconds=10.0))
        stack.push_async_callback(model.close)
        await bootstrap(config, stack, model=model)
        js = nc.jetstream()
        session = Session(js, topology, str(uuid.uuid4()))
        started = events.SessionEvent()
        started.conversation_started.phone_number_id = "109000000000001"
        await session.publish(started, "Started")
        received = events.SessionEvent()
        message = received.customer_message_received
        message.message_id = unique_id("m-")
        message.content.CopyFrom(
            common_pb2.MessageContent(
                type="image",
                text="my broken screen",
                payload_json='{"id": "media-1", "mime_type": "image/png", '
                '"caption": "my broken screen"}',
            )
        )
        message.sent_at.FromDatetime(datetime.now(UTC))
        await session.publish(received, "CustomerMessageReceived")

        # Not kept yet: well past the reply delay, the model is not asked.
        await asyncio.sleep(1.5)
        assert model_server.requests == []
        assert await drafts(js, topology) == []

        async with FilesystemMediaStore(tmp_path / "media") as store:
            kept = await store.put(PHOTO.data, content_type="image/png", file_name="photo.png")
        stored = events.SessionEvent()
        attachment = stored.attachment_stored
        attachment.message_id = message.message_id
        attachment.media_type = "image"
        attachment.content_type = "image/png"
        attachment.size = kept.size
        attachment.sha256 = kept.sha256
        attachment.file_name = "photo.png"
        attachment.caption = "my broken screen"
        attachment.location = kept.location
        attachment.direction = "inbound"
        await session.publish(stored, "AttachmentStored")

        async def drafted() -> bool:
            return len(await drafts(js, topology)) == 1

        await eventually(drafted, timeout=15)
        (draft,) = await drafts(js, topology)

    assert draft.interpretation == SEEN
    assert draft.in_reply_to_message_id == message.message_id
    (asked,) = model_server.requests
    (turn,) = [m["content"] for m in asked.body["messages"] if m["role"] == "user"]
    image_part, text_part = turn
    assert base64.b64decode(image_part["image_url"]["url"].split(",", 1)[1]) == PHOTO.data
    assert text_part["text"] == (
        f"[the customer sent this image: photo.png (image/png, {readable_size(kept.size)}), "
        'caption "my broken screen"]'
    )
