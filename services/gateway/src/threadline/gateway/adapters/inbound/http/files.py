"""Serving an attachment's file: its bytes streamed from the media store, named for download.

Analytics says which file a message's attachment is and where the store keeps it (after the
caller's token was checked against the conversation's number); the bytes never pass through
gRPC. A file is always sent as a download (`Content-Disposition: attachment`, `nosniff`): a
customer's HTML or SVG must not run in an operator's browser as if the gateway had served it.
"""

from __future__ import annotations

import logging
import mimetypes
import re
import unicodedata
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from urllib.parse import quote

from aiohttp import web

from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.gateway.adapters.inbound.http.errors import NotFound, Unavailable
from threadline.media import (
    InvalidMediaLocation,
    MediaNotFound,
    MediaStore,
    MediaStoreUnavailable,
)

log = logging.getLogger(__name__)

FALLBACK_CONTENT_TYPE = "application/octet-stream"
# `type/subtype` and simple parameters (`; codecs=opus`), nothing that could split a header.
_CONTENT_TYPE = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
    r"(\s*;\s*[A-Za-z0-9!#$&^_.+-]+=(\"[^\"\\\r\n]*\"|[A-Za-z0-9!#$&^_.+-]+))*$"
)
# What may stand in the quoted `filename=` fallback: printable ASCII but `"`, `\` and `%`.
_UNSAFE_ASCII = re.compile(r'[^\x20-\x7e]|["\\%]')
# A name longer than this is cut (keeping its extension); file systems allow about 255 bytes.
MAX_NAME_CHARS = 180


def content_type_of(attachment: pb.Attachment, stored_type: str) -> str:
    """The type the attachment was recorded with, else the store's, if it is a well-formed
    MIME type; otherwise a generic binary type."""
    for candidate in (attachment.content_type.strip(), stored_type.strip()):
        if candidate and _CONTENT_TYPE.fullmatch(candidate):
            return candidate
    return FALLBACK_CONTENT_TYPE


def download_name(attachment: pb.Attachment, content_type: str) -> str:
    """The customer's file name without any directory part, else `<message_id>.<ext>`."""
    name = attachment.file_name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip(" .")
    if not name:
        essence = content_type.split(";", 1)[0].strip().lower()
        extension = mimetypes.guess_extension(essence, strict=False) or ".bin"
        name = f"{attachment.message_id}{extension}"
    if len(name) > MAX_NAME_CHARS:
        _, dot, extension = name.rpartition(".")
        keep = extension if dot and len(extension) <= 16 else ""
        name = name[: MAX_NAME_CHARS - len(keep) - 1] + ("." + keep if keep else "")
    return name


def content_disposition(name: str) -> str:
    """`attachment` with an ASCII `filename` for old clients and the exact name as RFC 5987
    `filename*` (RFC 6266 §4.3: clients that know it prefer it)."""
    plain = "".join(
        ch for ch in unicodedata.normalize("NFKD", name) if not unicodedata.combining(ch)
    )
    fallback = _UNSAFE_ASCII.sub("_", plain) or "download"
    encoded = quote(name, safe="!#$&+-.^_`|~")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


async def serve_file(
    request: web.Request, media: MediaStore, found: pb.GetAttachmentResponse
) -> web.StreamResponse:
    """Stream the attachment's file; 404 when the store has nothing there, 503 when it is
    unreachable (both decided before the first byte is sent)."""
    attachment, location = found.attachment, found.location
    chunks: AsyncIterator[bytes] | None = None
    try:
        with _store_errors(attachment):
            stored = await media.describe(location)
            chunks = media.stream(location)
            first = await anext(chunks, b"")
        content_type = content_type_of(attachment, stored.content_type)
        response = web.StreamResponse(
            headers={
                "Content-Type": content_type,
                "Content-Disposition": content_disposition(download_name(attachment, content_type)),
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "private, no-store",
            }
        )
        response.content_length = stored.size
        await response.prepare(request)
        if first:
            await response.write(first)
            async for chunk in chunks:
                await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        close = getattr(chunks, "aclose", None)  # the adapters' streams are async generators
        if close is not None:
            await close()


@contextmanager
def _store_errors(attachment: pb.Attachment) -> Iterator[None]:
    """The media store's refusals as the gateway's: a file that is not there (or not in this
    gateway's store) is 404, a store that cannot answer now is 503."""
    try:
        yield
    except MediaNotFound:
        raise NotFound(_missing(attachment)) from None
    except InvalidMediaLocation as error:
        log.warning(
            "attachment %s is kept where this gateway's media store does not reach: %s",
            attachment.message_id,
            error,
        )
        raise NotFound(_missing(attachment)) from None
    except MediaStoreUnavailable as error:
        log.warning("media store unavailable: %s", error)
        raise Unavailable("the media store is unavailable; try again later") from None


def _missing(attachment: pb.Attachment) -> str:
    return f"the file of attachment {attachment.message_id!r} is not in the media store"
