"""Reading `SendFiles`' stream (issue 11 item 5): a header, then per file a `FileStart` and its
chunks. Everything is checked as it arrives and before anything is kept: the order of the parts,
each chunk's size, the number of files, the bytes in all, each file's WhatsApp type, caption and
size (declared, then as received). The files are held until the stream ends, so a file refused
late leaves nothing kept and nothing queued.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.media import MediaStore
from threadline.media.whatsapp_media import LARGEST_FILE
from threadline.servicekit.grpc_kit import drain_refused_stream
from threadline.session.domain.errors import InvalidMessage
from threadline.session.domain.operator_files import (
    MAX_FILES,
    CheckedFile,
    FileDeclared,
    FileRefused,
    OutgoingMedia,
    check_declared,
)

MAX_CHUNK = 1024 * 1024  # bytes in one chunk message
MAX_TOTAL = LARGEST_FILE  # bytes of all the files of one call
# What is read, and for how long, of a refused call's rest before the refusal goes back.
DRAIN_BYTES = MAX_TOTAL + 2 * MAX_CHUNK
DRAIN_SECONDS = 5.0


@dataclass
class ReceivedFile:
    checked: CheckedFile
    data: bytearray = field(default_factory=bytearray)


async def header_of(requests: AsyncIterator[pb.SendFilesRequest]) -> pb.SendFilesHeader:
    """The stream's first part, which must be its header."""
    async for request in requests:
        if request.WhichOneof("part") != "header":
            raise InvalidMessage("the first message of SendFiles must be its header")
        return request.header
    raise InvalidMessage("SendFiles needs a header, then the files")


async def files_of(requests: AsyncIterator[pb.SendFilesRequest]) -> list[tuple[CheckedFile, bytes]]:
    """The files after the header, each complete and within its limits (FileRefused or
    InvalidMessage naming the field otherwise)."""
    files: list[ReceivedFile] = []
    total = 0
    async for request in requests:
        part = request.WhichOneof("part")
        if part == "header":
            raise InvalidMessage("SendFiles takes one header, first")
        if part == "file":
            if files:
                _complete(files[-1], len(files) - 1)
            if len(files) == MAX_FILES:
                raise InvalidMessage(f"files: at most {MAX_FILES} in one call")
            start = request.file
            declared = FileDeclared(
                file_name=start.file_name,
                content_type=start.content_type,
                caption=start.caption,
                size=start.size,
            )
            files.append(ReceivedFile(check_declared(declared, len(files))))
        elif part == "chunk":
            if not files:
                raise InvalidMessage("a chunk came before any file: send a FileStart first")
            chunk = request.chunk
            if len(chunk) > MAX_CHUNK:
                raise InvalidMessage(f"chunk: at most {MAX_CHUNK} bytes, got {len(chunk)}")
            total += len(chunk)
            if total > MAX_TOTAL:
                raise FileRefused(f"files: at most {MAX_TOTAL} bytes in all", too_large=True)
            current = files[-1]
            current.data += chunk
            current.checked.check_received(len(current.data), field=f"files[{len(files) - 1}]")
    if not files:
        raise InvalidMessage("files: SendFiles needs at least one file (SendMessage sends text)")
    _complete(files[-1], len(files) - 1)
    return [(received.checked, bytes(received.data)) for received in files]


async def drain(requests: AsyncIterator[pb.SendFilesRequest]) -> None:
    """What a refused SendFiles caller still sends, read within `DRAIN_BYTES` and
    `DRAIN_SECONDS` (see `drain_refused_stream`)."""
    await drain_refused_stream(requests, max_bytes=DRAIN_BYTES, max_seconds=DRAIN_SECONDS)


def _complete(received: ReceivedFile, index: int) -> None:
    received.checked.check_complete(len(received.data), field=f"files[{index}]")


async def keep_file(store: MediaStore, checked: CheckedFile, data: bytes) -> OutgoingMedia:
    """The file kept in the media store (under its sha256), as the message that sends it
    names it."""
    stored = await store.put(
        data, content_type=checked.content_type, file_name=checked.declared.file_name
    )
    return OutgoingMedia(
        location=stored.location,
        content_type=checked.content_type,
        size=stored.size,
        sha256=stored.sha256,
        file_name=checked.declared.file_name,
        media_type=checked.kind.name,
        caption=checked.declared.caption,
    )
