"""`threadline send --file PATH [--file PATH …] [--caption TEXT] [--text TEXT] CONVERSATION_ID`:
an operator's files, then a text, through the session's `SessionCommands.SendFiles` (issue 11
item 5), as the gateway's `POST /api/v1/conversations/{id}/files` sends them. Each file's MIME
type is guessed from its name; the caption goes with the first file. Prints the ids of the
messages queued, in the order they are sent: the files, then the text.
"""

from __future__ import annotations

import asyncio
import mimetypes
import sys
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import TextIO

import grpc
from opentelemetry import trace

from threadline.cli.endpoints import SessionEndpoint
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.servicekit.telemetry import ensure_tracing, grpc_client_interceptors

CHUNK = 1024 * 1024  # bytes a chunk, as the session takes them
TIMEOUT = 120.0
_tracer = trace.get_tracer("threadline.cli")


def requests(
    conversation_id: str, files: Sequence[Path], caption: str, text: str, key: str
) -> AsyncIterator[pb.SendFilesRequest]:
    """The stream: the header, then each file's start and its bytes, read as they are sent."""

    async def stream() -> AsyncIterator[pb.SendFilesRequest]:
        yield pb.SendFilesRequest(
            header=pb.SendFilesHeader(
                conversation_id=conversation_id, text=text, idempotency_key=key
            )
        )
        for index, path in enumerate(files):
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            yield pb.SendFilesRequest(
                file=pb.FileStart(
                    file_name=path.name,
                    content_type=content_type,
                    caption=caption if index == 0 else "",
                    size=path.stat().st_size,
                )
            )
            with path.open("rb") as opened:
                while chunk := opened.read(CHUNK):
                    yield pb.SendFilesRequest(chunk=chunk)

    return stream()


async def send_files(
    endpoint: SessionEndpoint,
    conversation_id: str,
    files: Sequence[Path],
    *,
    caption: str = "",
    text: str = "",
    key: str = "",
) -> pb.SendFilesResponse:
    metadata = (("authorization", f"Bearer {endpoint.token}"),)
    # The operator's send starts a trace; the call carries it (traceparent) to the session,
    # and on through the message's dispatch to the Graph API.
    with _tracer.start_as_current_span("threadline send"):
        async with grpc.aio.insecure_channel(
            endpoint.address, interceptors=grpc_client_interceptors()
        ) as channel:
            stub = pb_grpc.SessionCommandsStub(channel)
            answer: pb.SendFilesResponse = await stub.SendFiles(
                requests(conversation_id, files, caption, text, key or f"cli-{uuid.uuid4()}"),
                metadata=metadata,
                timeout=TIMEOUT,
            )
            return answer


def run(
    conversation_id: str,
    files: Sequence[Path],
    *,
    caption: str,
    text: str,
    env: Mapping[str, str],
    out: TextIO = sys.stdout,
) -> int:
    """Exit status 0 when the files were queued; 1 (with the session's reason) when refused."""
    for path in files:
        if not path.is_file():
            sys.stderr.write(f"threadline send: {path} is not a file\n")
            return 2
    endpoint = SessionEndpoint.resolve(env)
    ensure_tracing("threadline-cli")  # OTEL_* as the services read it
    try:
        answer = asyncio.run(
            send_files(endpoint, conversation_id, files, caption=caption, text=text)
        )
    except grpc.aio.AioRpcError as error:
        sys.stderr.write(f"threadline send: {error.code().name}: {error.details()}\n")
        return 1
    for message_id in answer.message_ids:
        out.write(f"{message_id}\n")
    return 0
