"""Issue 11 items 5 and 6 through all services and the WhatsApp sandbox: an operator sends files
(gRPC `SendFiles`, or the gateway's multipart upload) with a text; the session checks them
against WhatsApp's limits, keeps them in the media store and queues one message per file, then
the text; outbound uploads each file to the sandbox's Graph API (`POST /{phone}/media`) and
sends it by its media id, then the text, in order and with the configured pause between them
(0.3 s in the test platform), also when a send is retried; the gallery lists the file the
business sent and serves its bytes."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest

from tests.conftest import PHONE_NUMBER_ID, Platform
from tests.test_end_to_end import customer_number, customer_writes
from tests.test_media_end_to_end import session_events
from threadline.cli.endpoints import SessionEndpoint
from threadline.cli.send import send_files as cli_send_files
from threadline.contracts.analytics.v1 import analytics_pb2 as analytics_pb
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as session_grpc
from threadline.gateway.bootstrap import bootstrap as start_gateway
from threadline.gateway.config import GatewayConfig
from threadline.media import FilesystemMediaStore
from threadline.sandbox.outbox import AcceptedMessage
from threadline.testing import eventually

PDF = b"%PDF-1.4\n" + b"quote line: 3 x haircut, 1 x colour\n" * 60_000  # ~2.2 MB
PAUSE = timedelta(seconds=0.3)  # THREADLINE_OUTBOUND_REPLY_PAUSE_SECONDS of the test platform
MB = 1024 * 1024


async def send_files(
    platform: Platform,
    header: pb.SendFilesHeader,
    files: list[tuple[pb.FileStart, bytes]],
    *,
    chunk: int = 1024 * 1024,
) -> pb.SendFilesResponse:
    async def requests() -> AsyncIterator[pb.SendFilesRequest]:
        yield pb.SendFilesRequest(header=header)
        for start, data in files:
            yield pb.SendFilesRequest(file=start)
            for at in range(0, len(data), chunk):
                yield pb.SendFilesRequest(chunk=data[at : at + chunk])

    async with grpc.aio.insecure_channel(f"127.0.0.1:{platform.session_grpc_port}") as channel:
        stub = session_grpc.SessionCommandsStub(channel)
        answer: pb.SendFilesResponse = await stub.SendFiles(
            requests(), metadata=platform.auth, timeout=60
        )
        return answer


async def a_customer_who_wrote(platform: Platform) -> str:
    """A customer who wrote (the 24-hour window is open) and got the assistant's answer."""
    wa_id = customer_number()
    await customer_writes(platform, wa_id, "Can you send me the quote?")
    await eventually(lambda: len(platform.sandbox.outbox.messages(to=wa_id)) == 1, timeout=30)
    return wa_id


def header_for(wa_id: str, key: str, text: str = "") -> pb.SendFilesHeader:
    return pb.SendFilesHeader(
        phone_number_id=PHONE_NUMBER_ID, customer_wa_id=wa_id, text=text, idempotency_key=key
    )


def pdf_start(data: bytes = PDF, caption: str = "Your quote") -> pb.FileStart:
    return pb.FileStart(
        file_name="quote.pdf", content_type="application/pdf", caption=caption, size=len(data)
    )


async def operator_messages(platform: Platform, wa_id: str, count: int) -> list[AcceptedMessage]:
    """The customer's messages after the assistant's first answer, once there are `count`."""
    await eventually(
        lambda: len(platform.sandbox.outbox.messages(to=wa_id)) >= count + 1, timeout=40
    )
    received = sorted(platform.sandbox.outbox.messages(to=wa_id), key=lambda m: m.sequence)
    return received[1:]


def assert_document_then_text(
    platform: Platform, received: list[AcceptedMessage], data: bytes, text: str
) -> None:
    document, then = received
    request: Any = document.request
    assert request["type"] == "document"
    assert request["document"]["filename"] == "quote.pdf"
    assert request["document"]["caption"] == "Your quote"
    uploaded = platform.sandbox.media.get(request["document"]["id"])
    assert uploaded is not None, "sent by the id the upload answered"
    assert uploaded.data == data and uploaded.mime_type == "application/pdf"
    assert then.request["type"] == "text"
    assert then.request["text"] == {"body": text, "preview_url": False}
    assert then.accepted_at - document.accepted_at >= PAUSE - timedelta(milliseconds=10)


async def test_an_operator_sends_a_pdf_then_a_text_in_order_and_the_gallery_lists_it(
    platform: Platform,
) -> None:
    wa_id = await a_customer_who_wrote(platform)

    answer = await send_files(
        platform,
        header_for(wa_id, "quote-1", text="Here is your quote, valid for 30 days."),
        [(pdf_start(), PDF)],
        chunk=700 * 1024,
    )

    file_message, text_message = answer.message_ids
    received = await operator_messages(platform, wa_id, 2)
    assert_document_then_text(platform, received, PDF, "Here is your quote, valid for 30 days.")

    # The session recorded the file as the conversation's outbound attachment, in the store.
    events = await session_events(platform)
    (stored,) = [e.attachment_stored for e in events if e.HasField("attachment_stored")]
    assert (stored.message_id, stored.direction) == (file_message, "outbound")
    assert (stored.media_type, stored.content_type, stored.size) == (
        "document",
        "application/pdf",
        len(PDF),
    )
    assert stored.sha256 == hashlib.sha256(PDF).hexdigest()
    queued = [e.outbound_message_queued for e in events if e.HasField("outbound_message_queued")]
    mine = [q for q in queued if q.reply_id]
    assert [(q.message_id, q.reply_part, q.reply_parts) for q in mine] == [
        (file_message, 0, 2),
        (text_message, 1, 2),
    ]
    assert mine[0].media.location == stored.location and mine[0].media.media_type == "document"

    # The gallery lists it and serves its bytes.
    async def listed() -> list[analytics_pb.Attachment]:
        page = await platform.analytics.ListAttachments(
            analytics_pb.ListAttachmentsRequest(conversation_id=answer.conversation_id),
            metadata=platform.auth,
        )
        return list(page.attachments)

    await eventually(lambda: _has(listed, 1), timeout=20)
    (attachment,) = await listed()
    assert (attachment.message_id, attachment.direction, attachment.file_name) == (
        file_message,
        "outbound",
        "quote.pdf",
    )
    found = await platform.analytics.GetAttachment(
        analytics_pb.GetAttachmentRequest(
            conversation_id=answer.conversation_id, message_id=file_message
        ),
        metadata=platform.auth,
    )
    async with FilesystemMediaStore(platform.media_root) as store:
        assert await store.get(found.location) == PDF

    # The same idempotency key again: the same ids, nothing queued or sent again.
    again = await send_files(
        platform,
        header_for(wa_id, "quote-1", text="Here is your quote, valid for 30 days."),
        [(pdf_start(), PDF)],
    )
    assert list(again.message_ids) == [file_message, text_message]
    queued_again = [
        e for e in await session_events(platform) if e.HasField("outbound_message_queued")
    ]
    assert len(queued_again) == len(queued)


async def test_files_breaking_whatsapps_limits_are_refused_before_anything_is_kept(
    platform: Platform,
) -> None:
    wa_id = await a_customer_who_wrote(platform)
    big_photo = pb.FileStart(file_name="shop.png", content_type="image/png", size=6 * MB)
    archive = pb.FileStart(file_name="files.zip", content_type="application/zip")
    sticker = pb.FileStart(file_name="smile.webp", content_type="image/webp")  # size not given
    cases = [
        ([(pdf_start(), PDF), (big_photo, b"")], "files[1].size: an image may be at most 5 MB"),
        ([(pdf_start(), PDF), (archive, b"PK\x03\x04")], "files[1].content_type"),
        (
            [(sticker, b"RIFF" + b"\x00" * (600 * 1024))],
            "files[0]: a sticker may be at most 500 KB",
        ),
        ([(pdf_start(PDF[:10]), PDF)], "files[0]: 10 bytes were declared"),
        (
            [(pb.FileStart(file_name="v.ogg", content_type="audio/ogg", caption="hi"), b"Og")],
            "files[0].caption",
        ),
    ]
    for files, expected in cases:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await send_files(platform, header_for(wa_id, f"refused-{expected}"), files)
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert expected in (refused.value.details() or ""), refused.value.details()

    events = await session_events(platform)
    assert not [e for e in events if e.HasField("attachment_stored")]
    queued = [e for e in events if e.HasField("outbound_message_queued")]
    assert [q.outbound_message_queued.author for q in queued] == ["ai"]  # the assistant's only
    kept = list(platform.media_root.rglob("*")) if platform.media_root.exists() else []
    assert not [p for p in kept if p.is_file()], "nothing was kept in the media store"


async def test_a_retried_part_still_goes_first_with_the_pause_after_it(
    platform: Platform,
) -> None:
    wa_id = await a_customer_who_wrote(platform)
    platform.sandbox.faults.fail_next(wa_id)  # the document's first send answers 500

    await send_files(
        platform, header_for(wa_id, "retried", text="And the text."), [(pdf_start(), PDF)]
    )

    received = await operator_messages(platform, wa_id, 2)
    assert_document_then_text(platform, received, PDF, "And the text.")
    assert not platform.sandbox.faults.take(wa_id), "the failure was answered"


async def test_an_operator_uploads_through_the_gateway(platform: Platform) -> None:
    wa_id = await a_customer_who_wrote(platform)
    listed = await platform.analytics.ListConversations(
        analytics_pb.ListConversationsRequest(customer_phone=wa_id), metadata=platform.auth
    )
    conversation_id = listed.conversations[0].id
    async with AsyncExitStack() as stack:
        gateway = await start_gateway(
            GatewayConfig(
                port=0,
                ops_port=0,
                analytics_grpc_address=f"127.0.0.1:{platform.analytics_grpc_port}",
                session_grpc_address=f"127.0.0.1:{platform.session_grpc_port}",
                media_root=platform.media_root,
            ),
            stack,
        )
        http = await stack.enter_async_context(
            aiohttp.ClientSession(
                f"http://127.0.0.1:{gateway.port}",
                headers={"Authorization": f"Bearer {platform.api_token}"},
            )
        )
        path = f"/api/v1/conversations/{conversation_id}/files"

        def form(*parts: tuple[str, bytes | str, str, str]) -> aiohttp.FormData:
            data = aiohttp.FormData(default_to_multipart=True)
            for name, value, file_name, content_type in parts:
                if file_name:
                    data.add_field(name, value, filename=file_name, content_type=content_type)
                else:
                    data.add_field(name, value)
            return data

        refusals = [
            (form(("file", b"PK\x03\x04", "files.zip", "application/zip")), 415, "file[0]"),
            (form(("file", b"\x89PNG" + b"\x00" * (5 * MB), "big.png", "image/png")), 413, "5 MB"),
            (form(("caption", "x", "", ""), ("caption", "y", "", "")), 400, "file"),
        ]
        for body, status, named in refusals:
            async with http.post(path, data=body) as response:
                error = (await response.json())["error"]
                assert response.status == status, error
                assert named in error["message"], error

        body = form(
            ("caption", "Your quote", "", ""),
            ("file", PDF, "quote.pdf", "application/octet-stream"),  # typed by its name
            ("text", "Sent from the gateway.", "", ""),
        )
        async with http.post(path, data=body, headers={"Idempotency-Key": "gw-1"}) as response:
            sent = await response.json()
            assert response.status == 202, sent
        assert sent["conversation_id"] == conversation_id and len(sent["message_ids"]) == 2

        received = await operator_messages(platform, wa_id, 2)
        assert_document_then_text(platform, received, PDF, "Sent from the gateway.")

        async def in_gallery() -> bool:
            async with http.get(f"/api/v1/conversations/{conversation_id}/attachments") as got:
                return any(a["direction"] == "outbound" for a in (await got.json())["data"])

        await eventually(in_gallery, timeout=20)
        file_path = (
            f"/api/v1/conversations/{conversation_id}/attachments/{sent['message_ids'][0]}/file"
        )
        async with http.get(file_path) as response:
            assert response.status == 200
            assert await response.read() == PDF


async def _has(read: Any, n: int) -> bool:
    return len(await read()) >= n


async def test_the_cli_sends_a_file_then_a_text(platform: Platform, tmp_path: Path) -> None:
    wa_id = await a_customer_who_wrote(platform)
    listed = await platform.analytics.ListConversations(
        analytics_pb.ListConversationsRequest(customer_phone=wa_id), metadata=platform.auth
    )
    path = tmp_path / "quote.pdf"
    path.write_bytes(PDF)
    endpoint = SessionEndpoint(f"127.0.0.1:{platform.session_grpc_port}", platform.api_token)

    answer = await cli_send_files(
        endpoint,
        listed.conversations[0].id,
        [path],
        caption="Your quote",
        text="Sent from the command line.",
    )

    assert len(answer.message_ids) == 2
    received = await operator_messages(platform, wa_id, 2)
    assert_document_then_text(platform, received, PDF, "Sent from the command line.")
