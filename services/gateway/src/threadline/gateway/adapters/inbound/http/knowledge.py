"""Documents into the AI responder's knowledge bases through the gateway (issue 12 item 1):
`POST /api/v1/knowledge-bases/{name}/documents` as `multipart/form-data` with one or more
`file` parts (text, Markdown, HTML or PDF), each streamed into `KnowledgeBases.AddDocument`
under its file name (a document of that name is replaced).

The body is read part by part and each file spooled (in memory up to 1 MiB, on disk beyond),
never held whole, and checked while it arrives: a type the knowledge service does not read is
415 and a file over its bound 413, both naming the part, before anything goes upstream. Then
the files are added one by one, in the form's order; the service reads and checks each again.

`Idempotency-Key`: adding a document replaces the one of its name, so a retried upload leaves
the knowledge base as the first left it. With the key, the gateway also answers a retry with
the first answer (`replaced` as it was then) from `idempotency.answered_once`, the request
being the files' `fingerprint`; the same key with other files is refused (409).
"""

from __future__ import annotations

import hashlib
import mimetypes
import tempfile
from collections.abc import AsyncIterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import IO, Any

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong

from threadline.contracts.knowledge.v1 import knowledge_pb2 as pb
from threadline.gateway.adapters.inbound.http.errors import BadRequest
from threadline.gateway.adapters.inbound.http.uploads import PayloadTooLarge, UnsupportedMediaType
from threadline.media.whatsapp_media import essence
from threadline.servicekit.validation import InvalidField, check_text

# As the knowledge service takes them (`ai_responder`'s `grpc_api`).
CONTENT_TYPES = ("text/plain", "text/markdown", "text/html", "application/pdf")
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024  # bytes of one document
CHUNK = 1024 * 1024  # bytes of one gRPC chunk
MAX_DOCUMENTS = 10  # files in one request
MAX_TOTAL = 50 * 1024 * 1024  # bytes of all the files of one request
SPOOL_IN_MEMORY = 1024 * 1024
GENERIC_TYPES = frozenset({"", "application/octet-stream"})
# File names whose type the platform's `mimetypes` may not know.
_BY_EXTENSION = {".md": "text/markdown", ".markdown": "text/markdown", ".txt": "text/plain"}

Json = dict[str, Any]


@dataclass
class SpooledDocument:
    """One uploaded document: its name, type and bytes on the spool."""

    name: str
    content_type: str
    spool: IO[bytes]
    size: int = 0


async def read_documents(request: web.Request, spools: ExitStack) -> list[SpooledDocument]:
    """The form's files, spooled and checked; 400/413/415 naming the part."""
    if not request.content_type.startswith("multipart/form-data"):
        raise UnsupportedMediaType("the body must be multipart/form-data (file parts)")
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError) as error:
        raise BadRequest(f"the multipart body cannot be read: {error}") from None
    documents: list[SpooledDocument] = []
    try:
        await _read_parts(reader, documents, spools)
    except InvalidField:
        raise
    except LineTooLong:
        raise BadRequest("the multipart body cannot be read: a part's header is too long") from None
    except (ValueError, AssertionError, BadHttpMessage) as error:
        raise BadRequest(f"the multipart body cannot be read: {str(error)[:200]}") from None
    if not documents:
        raise BadRequest("file: give at least one file part")
    return documents


async def _read_parts(
    reader: MultipartReader, documents: list[SpooledDocument], spools: ExitStack
) -> None:
    total = 0
    async for part in reader:
        if not isinstance(part, BodyPartReader):
            raise BadRequest("nested multipart bodies are not taken")
        if part.name != "file":
            raise BadRequest(f"unknown part {(part.name or '')[:64]!r}: give file parts")
        index = len(documents)
        if index == MAX_DOCUMENTS:
            raise BadRequest(f"file: at most {MAX_DOCUMENTS} files in one request")
        document = _start_document(part, index, spools)
        while chunk := await part.read_chunk(64 * 1024):
            document.size += len(chunk)
            total += len(chunk)
            if document.size > MAX_DOCUMENT_BYTES:
                raise PayloadTooLarge(
                    f"file[{index}] ({document.name[:64]}): a document may be at most"
                    f" {MAX_DOCUMENT_BYTES} bytes"
                )
            if total > MAX_TOTAL:
                raise PayloadTooLarge(f"file: at most {MAX_TOTAL} bytes in all")
            document.spool.write(chunk)
        if document.size == 0:
            raise BadRequest(f"file[{index}] ({document.name[:64]}): the file is empty")
        if any(earlier.name == document.name for earlier in documents):
            raise BadRequest(f"file[{index}]: {document.name[:64]!r} is given twice")
        documents.append(document)


def _start_document(part: BodyPartReader, index: int, spools: ExitStack) -> SpooledDocument:
    name = (part.filename or "").strip()
    check_text(name, f"file[{index}].filename")
    if not name:
        raise BadRequest(f"file[{index}]: give the part a filename (the document's name)")
    declared = essence(part.headers.get("Content-Type", ""))
    if declared in GENERIC_TYPES:
        declared = _type_of(name) or declared
    if declared not in CONTENT_TYPES:
        raise UnsupportedMediaType(
            f"file[{index}] ({name[:64]}): a document must be one of"
            f" {', '.join(CONTENT_TYPES)}, got {declared or 'no type'!r}"
        )
    spool = spools.enter_context(tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY))  # noqa: SIM115 (closed by `spools`)
    return SpooledDocument(name=name, content_type=declared, spool=spool)


def _type_of(name: str) -> str | None:
    lowered = name.lower()
    for extension, content_type in _BY_EXTENSION.items():
        if lowered.endswith(extension):
            return content_type
    return mimetypes.guess_type(name)[0]


async def add_document_requests(
    knowledge_base: str, document: SpooledDocument
) -> AsyncIterator[pb.AddDocumentRequest]:
    """The `AddDocument` stream: the header, then the document's bytes in chunks."""
    yield pb.AddDocumentRequest(
        header=pb.AddDocumentHeader(
            knowledge_base=knowledge_base,
            document=document.name,
            content_type=document.content_type,
        )
    )
    document.spool.seek(0)
    while chunk := document.spool.read(CHUNK):
        yield pb.AddDocumentRequest(chunk=chunk)


def fingerprint(knowledge_base: str, documents: list[SpooledDocument]) -> str:
    """What an upload was: its knowledge base and each document's name, type and bytes."""
    digest = hashlib.sha256(knowledge_base.encode())
    for document in documents:
        digest.update(b"\0" + document.name.encode() + b"\0" + document.content_type.encode())
        document.spool.seek(0)
        while chunk := document.spool.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def knowledge_bases_json(documents: list[pb.Document]) -> list[Json]:
    """Each knowledge base with how many documents and passages it has, by name."""
    found: dict[str, Json] = {}
    for document in documents:
        entry = found.setdefault(
            document.knowledge_base,
            {"name": document.knowledge_base, "documents": 0, "passages": 0},
        )
        entry["documents"] += 1
        entry["passages"] += document.passages
    return [found[name] for name in sorted(found)]


def passage_json(passage: pb.Passage) -> Json:
    return {
        "knowledge_base": passage.knowledge_base,
        "document": passage.document,
        "position": passage.position,
        "text": passage.text,
        "score": passage.score,
        "similarity": passage.similarity,
    }
