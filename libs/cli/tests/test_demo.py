"""`threadline demo` sends a photo, a voice note or a document through the real sandbox, and
prints the media message with its attachment and transcript as analytics records them."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from threadline.cli.demo import Media, media_told, render, replies_delivered, send_as_customer
from threadline.cli.main import main, parser
from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.sandbox.receiver import WebhookReceiver
from threadline.sandbox.sample_media import SAMPLES
from threadline.sandbox.server import Sandbox

PHONE_NUMBER_ID = "106540352242922"


def wa_id() -> str:
    return "1555" + str(uuid.uuid4().int % 10**7).zfill(7)


async def delivered(sandbox: Sandbox, receiver: WebhookReceiver, media: Media) -> Any:
    """What the platform's webhook receives when the demo's customer sends `media`."""
    body = media.request(PHONE_NUMBER_ID) | {"profile_name": "Ana"}
    async with aiohttp.ClientSession() as http:
        answer = await send_as_customer(http, sandbox.url, wa_id(), body)
    async with asyncio.timeout(5):
        webhook = (await receiver.wait_for(1))[0]
    message = webhook.json()["entry"][0]["changes"][0]["value"]["messages"][0]  # type: ignore[index]
    assert answer is not None and message["id"] == answer["wamid"]
    return message


async def test_the_photo_arrives_as_the_sandbox_sample_with_its_caption(
    sandbox: Sandbox, receiver: WebhookReceiver
) -> None:
    message = await delivered(sandbox, receiver, Media("image", "The blue one?"))

    assert message["type"] == "image" and message["image"]["caption"] == "The blue one?"
    sha256 = base64.b64decode(message["image"]["sha256"])
    assert sha256 == hashlib.sha256(SAMPLES["image"].data).digest()


async def test_the_voice_note_arrives_as_a_voice_note(
    sandbox: Sandbox, receiver: WebhookReceiver
) -> None:
    message = await delivered(sandbox, receiver, Media("audio"))

    assert message["type"] == "audio" and message["audio"]["voice"] is True
    assert message["audio"]["mime_type"].startswith("audio/ogg")


async def test_a_file_of_ones_own_goes_as_a_document_named_and_typed_by_its_name(
    sandbox: Sandbox, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    path = tmp_path / "quote.pdf"
    path.write_bytes(SAMPLES["document"].data + b"\n% mine\n")

    message = await delivered(sandbox, receiver, Media.of_file(path, "My quote"))

    assert message["type"] == "document"
    assert (message["document"]["filename"], message["document"]["mime_type"]) == (
        "quote.pdf",
        "application/pdf",
    )
    assert (
        base64.b64decode(message["document"]["sha256"])
        == hashlib.sha256(path.read_bytes()).digest()
    )


def test_a_file_is_sent_as_the_kind_its_mime_type_says(tmp_path: Path) -> None:
    kinds = {name: Media.of_file(tmp_path / name).kind for name in ("a.png", "b.ogg", "c.txt")}

    assert kinds == {"a.png": "image", "b.ogg": "audio", "c.txt": "document"}


def test_a_voice_note_with_a_caption_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(ValueError, match="no caption"):
        Media("audio", "hello").request(PHONE_NUMBER_ID)


def test_a_caption_without_a_file_and_two_files_at_once_are_usage_errors() -> None:
    for argv in (["demo", "--caption", "hi"], ["demo", "--photo", "--voice"]):
        with pytest.raises(SystemExit) as stopped:
            main(argv)
        assert stopped.value.code == 2


def message(
    kind: str, content: str, metadata: dict[str, Any], *, role: str = "user", wamid: str = ""
) -> Any:
    return pb.Message(
        wamid=wamid,
        role=role,
        author="customer" if role == "user" else "ai",
        type=kind,
        content=content,
        status="read" if role == "user" else "delivered",
        metadata_json=json.dumps(metadata),
    )


STORED_PHOTO = {
    "status": "stored",
    "media_type": "image",
    "content_type": "image/png",
    "size": 1234,
    "sha256": "ab",
    "file_name": "",
    "voice": False,
}
HEARD = {"status": "recorded", "text": "A table for two?", "language": "en", "model": "whisper"}
STORED_VOICE = STORED_PHOTO | {"media_type": "audio", "content_type": "audio/ogg", "voice": True}


def conversation(*messages: Any) -> pb.GetConversationResponse:
    return pb.GetConversationResponse(
        conversation=pb.Conversation(id="c1", status="open"), messages=messages
    )


def test_the_printed_conversation_shows_the_attachment_and_the_transcript() -> None:
    printed = render(
        conversation(
            message("image", "The blue one?", {"attachment": STORED_PHOTO}),
            message("audio", "", {"attachment": STORED_VOICE | {"transcript": HEARD}}),
            message("text", "Yes, at eight.", {}, role="assistant"),
        )
    )

    lines = printed.splitlines()
    assert "image" in lines[1] and lines[1].endswith("The blue one?")
    assert lines[2].strip() == "attachment: stored image/png 1,234 bytes"
    assert lines[4].strip() == "attachment: stored audio/ogg 1,234 bytes"
    assert lines[5].strip() == "transcript: 'A table for two?' (en)"
    assert lines[6].endswith("Yes, at eight.")


def test_a_file_not_kept_and_a_voice_note_not_heard_say_why() -> None:
    failed = {"status": "failed", "media_type": "image", "reason": "too large", "refused": True}
    unheard = {"status": "missing", "reason": "no transcription model configured"}

    printed = render(
        conversation(
            message("image", "", {"attachment": failed}),
            message("audio", "", {"attachment": STORED_VOICE, "transcript": unheard}),
        )
    )

    assert "attachment: refused: too large" in printed
    assert "transcript: none: no transcription model configured" in printed


def test_the_demo_waits_for_the_attachment_and_a_voice_notes_transcript() -> None:
    photo_pending = conversation(message("image", "", {}))
    photo_kept = conversation(message("image", "", {"attachment": STORED_PHOTO}))
    voice_unheard_yet = conversation(message("audio", "", {"attachment": STORED_VOICE}))
    voice_heard = conversation(
        message("audio", "", {"attachment": STORED_VOICE | {"transcript": HEARD}})
    )

    told = [media_told(c) for c in (photo_pending, photo_kept, voice_unheard_yet, voice_heard)]

    assert told == [False, True, False, True]


def test_a_customer_writing_again_waits_for_the_new_answer_not_the_earlier_one() -> None:
    answered = message("text", "Yes, at eight.", {}, role="assistant")
    first = conversation(message("text", "A table?", {}), answered)
    again = conversation(message("text", "A table?", {}), answered, message("image", "", {}))
    answered_again = conversation(
        message("text", "A table?", {}),
        answered,
        message("image", "", {}, wamid="wamid.PHOTO"),
        message("text", "Nice photo.", {}, role="assistant"),
    )

    assert [replies_delivered(c) for c in (first, again, answered_again)] == [True, False, True]
    # The message just sent, not projected yet: the earlier answer is not taken for its answer.
    assert not replies_delivered(first, "wamid.JUST-SENT")
    assert replies_delivered(answered_again, "wamid.PHOTO")


def test_the_demo_writes_again_as_a_given_customer() -> None:
    assert parser().parse_args(["demo", "--customer", "+15551234567"]).customer == "15551234567"
    with pytest.raises(SystemExit):
        parser().parse_args(["demo", "--customer", "ana"])
