"""Hostile operator file sends `make fuzz` found mishandled (issue 8's rules on issue 11's new
paths), kept as regressions: a `SendFiles` call refused for its quote, a text of blanks or a
missing customer keeps none of its files (they were kept, then refused), nor does a file name
with a CR LF (kept, queued, then dead-lettered by outbound's upload); a refused call is
heard as refused, not INTERNAL, while the client still streams; and a multipart body the
gateway cannot read (cut short, no starting boundary, an enormous part header, bare LFs) is a
400 naming the body, not a 500."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import grpc
import pytest

from tests.conftest import PHONE_NUMBER_ID, Platform
from tests.test_operator_files import a_customer_who_wrote, send_files
from threadline.contracts.analytics.v1 import analytics_pb2 as analytics_pb
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as session_grpc
from threadline.gateway.bootstrap import bootstrap as start_gateway
from threadline.gateway.config import GatewayConfig

CALLS = 20  # refused calls at once, each client still streaming


def kept(platform: Platform, data: bytes) -> bool:
    digest = hashlib.sha256(data).hexdigest()
    return (platform.media_root / digest[:2] / digest).exists()


async def conversation_of(platform: Platform, wa_id: str) -> str:
    listed = await platform.analytics.ListConversations(
        analytics_pb.ListConversationsRequest(customer_phone=wa_id), metadata=platform.auth
    )
    return str(listed.conversations[0].id)


async def test_a_call_refused_for_its_quote_text_or_customer_keeps_no_file(
    platform: Platform,
) -> None:
    wa_id = await a_customer_who_wrote(platform)
    conversation_id = await conversation_of(platform, wa_id)
    cases = [
        (
            pb.SendFilesHeader(
                conversation_id=conversation_id, quoted_message_id=str(uuid.uuid4())
            ),
            "quoted_message_id",
        ),
        (pb.SendFilesHeader(conversation_id=conversation_id, text=" \n "), "non-empty text"),
        (pb.SendFilesHeader(phone_number_id=PHONE_NUMBER_ID), "customer"),
        # Was kept and queued, then dead-lettered by outbound: a CR LF breaks its upload.
        (pb.SendFilesHeader(conversation_id=conversation_id), "files[0].file_name"),
    ]
    for header, named in cases:
        data = b"%PDF-1.4 " + uuid.uuid4().bytes * 8
        header.idempotency_key = f"hostile-{uuid.uuid4()}"
        name = "a\r\nX-Injected: 1.pdf" if named.startswith("files") else "q.pdf"
        start = pb.FileStart(file_name=name, content_type="application/pdf", size=len(data))

        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await send_files(platform, header, [(start, data)])

        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
        assert named in (refused.value.details() or ""), refused.value.details()
        assert not kept(platform, data), f"refused for {named}, yet the file was kept"


async def test_a_multipart_body_the_gateway_cannot_read_is_a_400(platform: Platform) -> None:
    wa_id = await a_customer_who_wrote(platform)
    conversation_id = await conversation_of(platform, wa_id)
    boundary = "b" + uuid.uuid4().hex
    # Hex, not random bytes: a file ending in CR would turn "bare LFs" below back into a valid
    # CRLF delimiter (CR CR LF -> CR LF), and the body would be read, once in 256 runs.
    data = b"%PDF-1.4 " + uuid.uuid4().hex.encode() * 8
    part = (
        b'Content-Disposition: form-data; name="file"; filename="q.pdf"\r\n'
        b"Content-Type: application/pdf\r\n\r\n" + data
    )
    whole = b"--" + boundary.encode() + b"\r\n" + part + b"\r\n--" + boundary.encode() + b"--\r\n"
    bodies = {
        "cut short": whole[: len(whole) // 2],
        "no starting boundary": whole.replace(b"--" + boundary.encode(), b"--other"),
        "an enormous part header": whole.replace(part, b"X-Big: " + b"h" * 70_000 + b"\r\n" + part),
        "bare LFs": whole.replace(b"\r\n", b"\n"),
    }
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
        for what, body in bodies.items():
            async with http.post(
                f"/api/v1/conversations/{conversation_id}/files",
                data=body,
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            ) as response:
                answer = await response.json()
                assert response.status == 400, (what, answer)
                assert "multipart body" in answer["error"]["message"], (what, answer)
            assert not kept(platform, data), what


async def test_a_refused_call_is_heard_as_refused_while_the_client_still_streams(
    platform: Platform,
) -> None:
    """The session reads a refused call's rest before answering: an asyncio client still
    writing when the call ends may hear INTERNAL instead (grpc/grpc#36066), and the gateway,
    streaming an upload into it, would answer 500."""
    wa_id = await a_customer_who_wrote(platform)
    conversation_id = await conversation_of(platform, wa_id)

    async def refused_call(n: int, stub: Any) -> grpc.StatusCode:
        header = pb.SendFilesHeader(conversation_id=conversation_id, idempotency_key=f"early-{n}")

        async def requests() -> AsyncIterator[pb.SendFilesRequest]:
            yield pb.SendFilesRequest(header=header)
            for _ in range(200):  # chunks before any file: refused at the first
                yield pb.SendFilesRequest(chunk=bytes(16 * 1024))

        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.SendFiles(requests(), metadata=platform.auth, timeout=30)
        return refused.value.code()

    async with grpc.aio.insecure_channel(f"127.0.0.1:{platform.session_grpc_port}") as channel:
        stub = session_grpc.SessionCommandsStub(channel)
        codes = await asyncio.gather(*(refused_call(n, stub) for n in range(CALLS)))

    assert list(codes) == [grpc.StatusCode.INVALID_ARGUMENT] * CALLS


async def test_a_refused_call_whose_rest_holds_a_malformed_message_is_refused_once(
    platform: Platform,
) -> None:
    """Found by `make fuzz`: a call refused (its conversation not found) whose rest holds a
    message that is not a `SendFilesRequest`, the client still streaming behind it. Reading
    the rest, the guard refused that message by aborting the call and stopped reading: the
    call's own refusal was then aborted a second time ("Abort already called", logged as an
    unexpected error), and the client, still writing, could hear INTERNAL."""

    async def refused_call(n: int, channel: grpc.aio.Channel) -> grpc.StatusCode:
        header = pb.SendFilesHeader(conversation_id=str(uuid.uuid4()), idempotency_key=f"r{n}")

        async def raw() -> AsyncIterator[bytes]:
            yield pb.SendFilesRequest(header=header).SerializeToString()
            yield b"\xff\xff\xff"  # no protobuf message at all
            for _ in range(200):
                yield pb.SendFilesRequest(chunk=bytes(16 * 1024)).SerializeToString()

        send_files_raw = channel.stream_unary(
            "/threadline.session.v1.SessionCommands/SendFiles",
            request_serializer=lambda data: data,
            response_deserializer=pb.SendFilesResponse.FromString,
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await send_files_raw(raw(), metadata=platform.auth, timeout=30)
        return refused.value.code()

    async with grpc.aio.insecure_channel(f"127.0.0.1:{platform.session_grpc_port}") as channel:
        codes = await asyncio.gather(*(refused_call(n, channel) for n in range(CALLS)))

    assert list(codes) == [grpc.StatusCode.NOT_FOUND] * CALLS  # the call's own refusal
