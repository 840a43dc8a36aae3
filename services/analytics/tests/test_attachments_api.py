"""ConversationQueries.ListAttachments over gRPC on a real PostgreSQL: what is listed, by kind
and page, to whom, and what is refused."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

import grpc
import pytest

from threadline.contracts.analytics.v1 import analytics_pb2 as pb

if TYPE_CHECKING:
    from conftest import EventLog, RunningAnalytics


async def conversation_with_media(
    analytics: RunningAnalytics, log: EventLog, *, number: str = ""
) -> UUID:
    """A customer who sent a photo, a voice note, a PDF and a video that could not be kept."""
    contact, conversation = uuid4(), uuid4()
    await analytics.publish(
        log.contact(contact, number=number),
        log.conversation(conversation, contact, number=number),
        log.inbound(conversation, f"{conversation}-photo", kind="image", text="my sofa"),
        log.attachment_stored(conversation, f"{conversation}-photo", caption="my sofa"),
        log.inbound(conversation, f"{conversation}-voice", kind="audio", text=""),
        log.attachment_stored(
            conversation,
            f"{conversation}-voice",
            media_type="audio",
            content_type="audio/ogg",
            voice=True,
        ),
        log.inbound(conversation, f"{conversation}-pdf", kind="document", text=""),
        log.attachment_stored(
            conversation,
            f"{conversation}-pdf",
            media_type="document",
            content_type="application/pdf",
            file_name="invoice.pdf",
        ),
        log.inbound(conversation, f"{conversation}-video", kind="video", text=""),
        log.attachment_failed(
            conversation, f"{conversation}-video", reason="larger than 16 MB", refused=True
        ),
    )
    await analytics.projected(log.position)
    return conversation


async def refusal(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value


def listing(conversation: UUID, **fields: object) -> pb.ListAttachmentsRequest:
    return pb.ListAttachmentsRequest(conversation_id=str(conversation), **fields)  # type: ignore[arg-type]


async def test_a_conversations_attachments_are_listed_oldest_first_without_their_location(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    conversation = await conversation_with_media(analytics, log)

    reply = await analytics.queries.ListAttachments(
        listing(conversation), metadata=analytics.reader
    )

    assert [a.message_id.rsplit("-", 1)[1] for a in reply.attachments] == [
        "photo",
        "voice",
        "pdf",
        "video",
    ]
    assert (reply.total, reply.page, reply.size) == (4, 1, 20)
    photo, voice, pdf, video = reply.attachments
    assert (photo.media_type, photo.content_type, photo.caption, photo.size) == (
        "image",
        "image/jpeg",
        "my sofa",
        2048,
    )
    assert (photo.status, photo.direction, photo.conversation_id) == (
        "stored",
        "inbound",
        str(conversation),
    )
    assert len(photo.sha256) == 64 and photo.HasField("created_at")
    assert voice.voice and not photo.voice
    assert pdf.file_name == "invoice.pdf"
    assert (video.status, video.failure_reason, video.refused) == (
        "failed",
        "larger than 16 MB",
        True,
    )
    assert "location" not in pb.Attachment.DESCRIPTOR.fields_by_name
    assert "media/" not in str(reply)


async def test_attachments_are_filtered_by_media_type(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    conversation = await conversation_with_media(analytics, log)

    documents = await analytics.queries.ListAttachments(
        listing(conversation, media_type="document"), metadata=analytics.reader
    )
    stickers = await analytics.queries.ListAttachments(
        listing(conversation, media_type="sticker"), metadata=analytics.reader
    )

    assert [a.file_name for a in documents.attachments] == ["invoice.pdf"]
    assert documents.total == 1
    assert (stickers.total, list(stickers.attachments)) == (0, [])


async def test_attachments_are_paged(analytics: RunningAnalytics, log: EventLog) -> None:
    conversation = await conversation_with_media(analytics, log)

    pages = [
        await analytics.queries.ListAttachments(
            listing(conversation, page=page, size=3), metadata=analytics.reader
        )
        for page in (1, 2, 3)
    ]

    assert [len(p.attachments) for p in pages] == [3, 1, 0]
    assert {p.total for p in pages} == {4}
    assert pages[1].attachments[0].media_type == "video" and pages[1].page == 2


async def test_the_message_shows_its_attachment(analytics: RunningAnalytics, log: EventLog) -> None:
    conversation = await conversation_with_media(analytics, log)

    found = await analytics.queries.GetConversation(
        pb.GetConversationRequest(conversation_id=str(conversation)), metadata=analytics.reader
    )

    shown = {m.id: json.loads(m.metadata_json).get("attachment") for m in found.messages}
    assert shown[f"{conversation}-pdf"]["file_name"] == "invoice.pdf"
    assert shown[f"{conversation}-video"] == {
        "status": "failed",
        "media_type": "video",
        "reason": "larger than 16 MB",
        "refused": True,
    }
    assert "location" not in json.dumps(shown)


async def test_another_tenants_attachments_are_not_found(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    theirs = await conversation_with_media(analytics, log)
    own = await conversation_with_media(analytics, log, number=analytics.other_number)

    refused = await refusal(
        analytics.queries.ListAttachments(listing(theirs), metadata=analytics.tenant)
    )
    listed = await analytics.queries.ListAttachments(listing(own), metadata=analytics.tenant)

    assert refused.code() == grpc.StatusCode.NOT_FOUND
    assert refused.details() == f"conversation {theirs} not found"
    assert listed.total == 4


async def test_an_unknown_conversation_is_not_found(analytics: RunningAnalytics) -> None:
    refused = await refusal(
        analytics.queries.ListAttachments(listing(uuid4()), metadata=analytics.reader)
    )

    assert refused.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.ListAttachmentsRequest(conversation_id="c-17"), "conversation_id"),
        (pb.ListAttachmentsRequest(conversation_id=str(uuid4()), media_type="gif"), "media_type"),
        (
            pb.ListAttachmentsRequest(conversation_id=str(uuid4()), media_type="x" * 33),
            "media_type",
        ),
        (pb.ListAttachmentsRequest(conversation_id=str(uuid4()), size=101), "size"),
        (pb.ListAttachmentsRequest(conversation_id=str(uuid4()), page=-1), "page"),
    ],
)
async def test_bad_arguments_are_invalid_and_name_the_field(
    analytics: RunningAnalytics, request_: pb.ListAttachmentsRequest, field: str
) -> None:
    refused = await refusal(analytics.queries.ListAttachments(request_, metadata=analytics.reader))

    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (refused.details() or "")


async def test_a_call_needs_a_token_with_the_read_role(analytics: RunningAnalytics) -> None:
    unauthenticated = await refusal(analytics.queries.ListAttachments(listing(uuid4())))
    denied = await refusal(
        analytics.queries.ListAttachments(listing(uuid4()), metadata=analytics.writer)
    )

    assert unauthenticated.code() == grpc.StatusCode.UNAUTHENTICATED
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED


def one(conversation: UUID, name: str) -> pb.GetAttachmentRequest:
    return pb.GetAttachmentRequest(
        conversation_id=str(conversation), message_id=f"{conversation}-{name}"
    )


async def test_a_stored_attachment_is_read_with_its_location_for_the_gateway(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    conversation = await conversation_with_media(analytics, log)

    found = await analytics.queries.GetAttachment(
        one(conversation, "pdf"), metadata=analytics.reader
    )

    assert found.location == f"media/{conversation}-pdf"
    assert (found.attachment.message_id, found.attachment.file_name) == (
        f"{conversation}-pdf",
        "invoice.pdf",
    )
    assert (found.attachment.status, found.attachment.content_type) == ("stored", "application/pdf")


async def test_an_attachment_not_stored_unknown_or_another_tenants_is_not_found(
    analytics: RunningAnalytics, log: EventLog
) -> None:
    conversation = await conversation_with_media(analytics, log)

    failed = await refusal(
        analytics.queries.GetAttachment(one(conversation, "video"), metadata=analytics.reader)
    )
    unknown = await refusal(
        analytics.queries.GetAttachment(one(conversation, "nothing"), metadata=analytics.reader)
    )
    theirs = await refusal(
        analytics.queries.GetAttachment(one(conversation, "photo"), metadata=analytics.tenant)
    )
    elsewhere = await refusal(
        analytics.queries.GetAttachment(
            pb.GetAttachmentRequest(
                conversation_id=str(uuid4()), message_id=f"{conversation}-photo"
            ),
            metadata=analytics.reader,
        )
    )

    assert [r.code() for r in (failed, unknown, theirs, elsewhere)] == [
        grpc.StatusCode.NOT_FOUND
    ] * 4
    assert (
        failed.details()
        == f"no stored attachment '{conversation}-video' in conversation {conversation}"
    )
    assert theirs.details() == f"conversation {conversation} not found"
    assert "media/" not in str([r.details() for r in (failed, unknown, theirs, elsewhere)])


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.GetAttachmentRequest(conversation_id="c-17", message_id="m-1"), "conversation_id"),
        (pb.GetAttachmentRequest(conversation_id=str(uuid4())), "message_id"),
        (pb.GetAttachmentRequest(conversation_id=str(uuid4()), message_id="m" * 129), "message_id"),
    ],
)
async def test_a_bad_attachment_request_is_invalid_and_names_the_field(
    analytics: RunningAnalytics, request_: pb.GetAttachmentRequest, field: str
) -> None:
    refused = await refusal(analytics.queries.GetAttachment(request_, metadata=analytics.reader))

    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (refused.details() or "")
