"""An operator's files through the gateway (issue 11 item 5): `POST
/api/v1/conversations/{id}/files` as `multipart/form-data` — one or more `file` parts, a
`caption` for one file or one per file (in the files' order), an optional `text` sent after the
files — streamed into the session's `SendFiles`.

The body is read part by part and each file spooled to a temporary file (in memory up to
1 MiB, on disk beyond), never held whole; every file is checked against WhatsApp's type and
size limits (`threadline.media.whatsapp_media`) while it arrives, so a file that breaks them is
refused (415 for its type, 413 for its size, naming the part) before anything goes upstream.
Then the header, each file's start and its bytes in 1 MiB chunks go to `SendFiles`, which checks
everything again, keeps the files and queues them.
"""

from __future__ import annotations

import mimetypes
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import IO

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong

from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.gateway.adapters.inbound.http.errors import BadRequest, GatewayError
from threadline.gateway.adapters.inbound.http.idempotency import (
    given_idempotency_key as given_idempotency_key,  # also read from here by older callers
)
from threadline.media.whatsapp_media import (
    LARGEST_FILE,
    MediaKind,
    MediaRefused,
    check_size,
    essence,
    media_kind,
)
from threadline.servicekit.validation import InvalidField, check_text

MAX_FILES = 10  # as the session takes in one call
MAX_TOTAL = LARGEST_FILE  # bytes of all the files of one request
MAX_FIELD = 16 * 1024  # bytes of a text part (a caption, the text)
CHUNK = 1024 * 1024  # bytes of one gRPC chunk, as the session takes them
SPOOL_IN_MEMORY = 1024 * 1024
GENERIC_TYPES = frozenset({"", "application/octet-stream"})


class PayloadTooLarge(GatewayError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(GatewayError):
    status = 415
    code = "UNSUPPORTED_MEDIA_TYPE"


@dataclass
class SpooledFile:
    """One uploaded file: its name, MIME type and WhatsApp type, and its bytes on the spool."""

    file_name: str
    content_type: str
    kind: MediaKind
    spool: IO[bytes]
    size: int = 0
    caption: str = ""


@dataclass
class Upload:
    files: list[SpooledFile]
    captions: list[str]
    text: str


async def read_upload(request: web.Request, spools: ExitStack) -> Upload:
    """The form's files (spooled, checked) and its texts; 400/413/415 naming the part."""
    if not request.content_type.startswith("multipart/form-data"):
        raise UnsupportedMediaType("the body must be multipart/form-data (file, caption, text)")
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError) as error:
        raise BadRequest(f"the multipart body cannot be read: {error}") from None
    upload = Upload(files=[], captions=[], text="")
    try:
        await _read_parts(reader, upload, spools)
    except InvalidField:
        raise
    except LineTooLong:
        raise BadRequest("the multipart body cannot be read: a part's header is too long") from None
    except (ValueError, AssertionError, BadHttpMessage) as error:
        # A boundary never found, a body cut short, a malformed part header: the client's.
        reason = str(error)[:200]
        raise BadRequest(f"the multipart body cannot be read: {reason}") from None
    if not upload.files:
        raise BadRequest("file: give at least one file part")
    _assign_captions(upload)
    return upload


async def _read_parts(reader: MultipartReader, upload: Upload, spools: ExitStack) -> None:
    """Each part of the form into `upload`: files spooled and checked, texts decoded."""
    total = 0
    async for part in reader:
        if not isinstance(part, BodyPartReader):
            raise BadRequest("nested multipart bodies are not taken")
        name = part.name or ""
        if name == "file":
            if len(upload.files) == MAX_FILES:
                raise BadRequest(f"file: at most {MAX_FILES} files in one request")
            spooled = _start_file(part, len(upload.files), spools)
            while chunk := await part.read_chunk(64 * 1024):
                spooled.size += len(chunk)
                total += len(chunk)
                _check_size(spooled, len(upload.files))
                if total > MAX_TOTAL:
                    raise PayloadTooLarge(f"file: at most {MAX_TOTAL} bytes in all")
                spooled.spool.write(chunk)
            if spooled.size == 0:
                raise BadRequest(f"file[{len(upload.files)}]: the file is empty")
            upload.files.append(spooled)
        elif name in ("caption", "text"):
            value = await _text_part(part, name)
            if name == "caption":
                upload.captions.append(value)
            elif upload.text:
                raise BadRequest("text: give it once")
            else:
                upload.text = value
        else:
            raise BadRequest(f"unknown part {name[:64]!r}: give file, caption or text")


def _start_file(part: BodyPartReader, index: int, spools: ExitStack) -> SpooledFile:
    file_name = (part.filename or "").strip()
    check_text(file_name, f"file[{index}].filename")
    if not file_name:
        raise BadRequest(f"file[{index}]: give the part a filename")
    declared = essence(part.headers.get("Content-Type", ""))
    if declared in GENERIC_TYPES:
        declared = mimetypes.guess_type(file_name)[0] or declared
    try:
        kind = media_kind(declared, field=f"file[{index}] ({file_name[:64]})")
    except MediaRefused as refused:
        raise UnsupportedMediaType(str(refused)) from None
    spool = spools.enter_context(tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY))  # noqa: SIM115 (closed by `spools`)
    return SpooledFile(file_name=file_name, content_type=declared, kind=kind, spool=spool)


def _check_size(spooled: SpooledFile, index: int) -> None:
    try:
        check_size(spooled.kind, spooled.size, field=f"file[{index}] ({spooled.file_name[:64]})")
    except MediaRefused as refused:
        raise PayloadTooLarge(str(refused)) from None


async def _text_part(part: BodyPartReader, name: str) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(4096):
        data += chunk
        if len(data) > MAX_FIELD:
            raise BadRequest(f"{name}: at most {MAX_FIELD} bytes")
    try:
        value = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(f"{name}: not UTF-8 text") from None
    check_text(value, name)
    return value.strip()


def _assign_captions(upload: Upload) -> None:
    """One caption per file in order; a single caption goes with the first file."""
    if len(upload.captions) > len(upload.files):
        raise BadRequest(
            f"caption: {len(upload.captions)} captions for {len(upload.files)} files"
            " (give one, or one per file in order)"
        )
    for spooled, caption in zip(upload.files, upload.captions, strict=False):
        if caption and not spooled.kind.captioned:
            raise BadRequest(
                f"caption: WhatsApp shows no caption with {spooled.kind.a_name}"
                f" ({spooled.file_name[:64]})"
            )
        spooled.caption = caption


async def send_files_requests(
    conversation_id: str, upload: Upload, idempotency_key: str
) -> AsyncIterator[pb.SendFilesRequest]:
    """The `SendFiles` stream: the header, then each file's start and its chunks."""
    yield pb.SendFilesRequest(
        header=pb.SendFilesHeader(
            conversation_id=conversation_id,
            text=upload.text,
            idempotency_key=idempotency_key,
        )
    )
    for spooled in upload.files:
        yield pb.SendFilesRequest(
            file=pb.FileStart(
                file_name=spooled.file_name,
                content_type=spooled.content_type,
                caption=spooled.caption,
                size=spooled.size,
            )
        )
        spooled.spool.seek(0)
        while chunk := spooled.spool.read(CHUNK):
            yield pb.SendFilesRequest(chunk=chunk)


def idempotency_key(request: web.Request) -> str:
    """The `Idempotency-Key` header (a retried upload with it queues nothing new), else a new
    key: the upload is then sent once per request."""
    return given_idempotency_key(request) or f"upload-{uuid.uuid4()}"
