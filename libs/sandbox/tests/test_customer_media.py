"""The simulated customer sends real files: the webhook names them as Meta's samples do, and
the platform can fetch the very bytes by the media id it carries."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from typing import Any

import aiohttp
import pytest

from threadline.sandbox.receiver import WebhookReceiver
from threadline.sandbox.sample_media import SAMPLES
from threadline.sandbox.server import Sandbox
from threadline.testing.samples import webhook_sample

AUTH = {"Authorization": "Bearer sandbox-tests-access-token"}


def message_of(webhook: Any) -> Any:
    return webhook.json()["entry"][0]["changes"][0]["value"]["messages"][0]


def keys(value: Any) -> Any:
    """The keys of `value`, all the way down; lists by their first item."""
    if isinstance(value, dict):
        return {key: keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [keys(value[0])] if value else []
    return type(value).__name__


async def customer_sends(
    http: aiohttp.ClientSession, sandbox: Sandbox, wa_id: str, request: dict[str, Any]
) -> tuple[int, Any]:
    url = f"{sandbox.url}/sandbox/customers/{wa_id}/messages"
    async with http.post(url, json=request) as response:
        return response.status, await response.json()


async def fetch(http: aiohttp.ClientSession, sandbox: Sandbox, media_id: str) -> tuple[Any, bytes]:
    """What the platform does: look the media id up, then download with the bearer token."""
    async with http.get(f"{sandbox.url}/v23.0/{media_id}", headers=AUTH) as described:
        info = await described.json()
    async with http.get(info["url"], headers=AUTH) as download:
        assert download.headers["Content-Type"] == info["mime_type"]
        return info, await download.read()


@pytest.mark.parametrize(
    ("request_fields", "sample_name"),
    [
        ({"type": "image", "caption": "This one, on the left shelf"}, "image"),
        ({"type": "document", "caption": "My invoice"}, "document"),
        ({"type": "audio", "voice": True}, "voice"),
    ],
    ids=["image", "document", "voice-note"],
)
async def test_a_sample_file_arrives_shaped_as_metas_sample_and_can_be_fetched(
    sandbox: Sandbox,
    receiver: WebhookReceiver,
    http: aiohttp.ClientSession,
    phone_number_id: str,
    wa_id: str,
    request_fields: dict[str, Any],
    sample_name: str,
) -> None:
    kind = request_fields["type"]
    status, reply = await customer_sends(
        http, sandbox, wa_id, {"phone_number_id": phone_number_id, **request_fields}
    )
    async with asyncio.timeout(5):
        message = message_of((await receiver.wait_for(1))[0])
    info, data = await fetch(http, sandbox, message[kind]["id"])

    expected = webhook_sample("messages", sample_name)["entry"][0]["changes"][0]["value"]
    assert (status, reply["webhook_status"], message["id"]) == (200, 200, reply["wamid"])
    assert keys(message) == keys(expected["messages"][0])
    assert message[kind]["id"] == reply["media_id"]
    assert data == SAMPLES[kind].data
    assert message[kind]["sha256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert info["sha256"] == hashlib.sha256(data).hexdigest()
    assert message[kind]["mime_type"] == info["mime_type"] == SAMPLES[kind].mime_type
    assert message[kind].get("caption") == request_fields.get("caption")


async def test_the_sample_files_are_what_their_types_say() -> None:
    assert SAMPLES["image"].data.startswith(b"\x89PNG\r\n\x1a\n")
    assert SAMPLES["document"].data.startswith(b"%PDF-1.4")
    assert SAMPLES["document"].data.rstrip().endswith(b"%%EOF")
    voice = SAMPLES["audio"].data
    assert (voice[:4], voice[28:36]) == (b"OggS", b"OpusHead")


async def test_the_customers_own_file_and_file_name_are_sent(
    sandbox: Sandbox,
    receiver: WebhookReceiver,
    http: aiohttp.ClientSession,
    phone_number_id: str,
    wa_id: str,
) -> None:
    own = b"order 42: two coffees\n"
    request = {
        "phone_number_id": phone_number_id,
        "type": "document",
        "file_base64": base64.b64encode(own).decode(),
        "mime_type": "text/plain",
        "filename": "order.txt",
    }

    status, _ = await customer_sends(http, sandbox, wa_id, request)
    async with asyncio.timeout(5):
        document = message_of((await receiver.wait_for(1))[0])["document"]
    info, data = await fetch(http, sandbox, document["id"])

    assert status == 200
    assert (document["filename"], document["mime_type"], "caption" in document) == (
        "order.txt",
        "text/plain",
        False,
    )
    assert (data, info["file_size"]) == (own, str(len(own)))


async def test_audio_that_is_not_ogg_is_not_a_voice_note_unless_asked(
    sandbox: Sandbox,
    receiver: WebhookReceiver,
    http: aiohttp.ClientSession,
    phone_number_id: str,
    wa_id: str,
) -> None:
    request = {
        "phone_number_id": phone_number_id,
        "type": "audio",
        "file_base64": base64.b64encode(b"ID3 not really mp3").decode(),
        "mime_type": "audio/mpeg",
    }

    await customer_sends(http, sandbox, wa_id, request)
    async with asyncio.timeout(5):
        audio = message_of((await receiver.wait_for(1))[0])["audio"]

    assert (audio["mime_type"], audio["voice"]) == ("audio/mpeg", False)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"type": "audio", "caption": "hi"}, "an audio message has no caption"),
        ({"type": "image", "filename": "a.png"}, "only a document has a filename"),
        ({"type": "image", "voice": True}, "voice must be true or false, and only on audio"),
        ({"type": "image", "file_base64": "!!", "mime_type": "image/png"}, "valid base64"),
        ({"type": "image", "file_base64": "AAAA", "mime_type": "image/gif"}, "not a supported"),
        ({"type": "image", "file_base64": "AAAA"}, "mime_type is required"),
        (
            {"type": "sticker"},
            "type must be one of text, button_reply, list_reply, image, document, audio",
        ),
        ({"type": "button_reply", "title": "Yes"}, "reply_id"),
    ],
    ids=[
        *("audio-caption", "image-filename", "image-voice", "bad-base64", "gif", "no-mime"),
        *("kind", "tap-without-id"),
    ],
)
async def test_malformed_media_requests_are_refused_and_send_nothing(
    sandbox: Sandbox,
    receiver: WebhookReceiver,
    http: aiohttp.ClientSession,
    phone_number_id: str,
    wa_id: str,
    fields: dict[str, Any],
    problem: str,
) -> None:
    status, error = await customer_sends(
        http, sandbox, wa_id, {"phone_number_id": phone_number_id, **fields}
    )

    assert status == 400
    assert problem in error["error"]["error_data"]["details"]
    assert receiver.received == []


async def test_a_customer_taps_a_button_the_business_sent(
    sandbox: Sandbox,
    receiver: WebhookReceiver,
    http: aiohttp.ClientSession,
    phone_number_id: str,
    wa_id: str,
) -> None:
    request = {
        "phone_number_id": phone_number_id,
        "type": "button_reply",
        "reply_id": "yes",
        "title": "Yes, book it",
    }

    status, _ = await customer_sends(http, sandbox, wa_id, request)

    assert status == 200
    async with asyncio.timeout(5):
        message = message_of((await receiver.wait_for(1))[0])
    assert message["type"] == "interactive"
    assert message["interactive"] == {
        "type": "button_reply",
        "button_reply": {"id": "yes", "title": "Yes, book it"},
    }
