"""The `KnowledgeBases` gRPC service (issue 12 item 1): documents added, listed and removed,
knowledge bases searched. Each method only translates to `Knowledge`.

Knowledge bases are platform-wide for now (like assistants): a token's business numbers do not
scope them, its roles do: `write` to add or remove a document, `read` to list and search.
Every request field is bounded before a method runs (`RULES`, checked by the server kit); an
`AddDocument` stream is read, within `MAX_DOCUMENT_BYTES`, before anything is kept.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from threadline.ai_responder.adapters.outbound.documents import (
    KINDS,
    UnreadableDocument,
    document_text,
)
from threadline.ai_responder.application.knowledge import EmbeddingError, Knowledge
from threadline.contracts.knowledge.v1 import knowledge_pb2 as pb
from threadline.contracts.knowledge.v1 import knowledge_pb2_grpc as pb_grpc
from threadline.servicekit.auth import current_principal
from threadline.servicekit.grpc_kit import drain_refused_stream
from threadline.servicekit.validation import RequestRules, Rule, field_rules

__all__ = [
    "ERRORS",
    "MAX_CHUNK",
    "MAX_DOCUMENT_BYTES",
    "RULES",
    "SERVICE_NAME",
    "InvalidRequest",
    "KnowledgeBasesServicer",
]

SERVICE_NAME = "threadline.knowledge.v1.KnowledgeBases"
MAX_CHUNK = 1024 * 1024  # bytes in one chunk message
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024  # bytes of one document
MAX_K = 20
DEFAULT_K = 3
MAX_SEARCHED_BASES = 20
CONTENT_TYPES = ("text/plain", "text/markdown", "text/html", "application/pdf")
# What is read, and for how long, of a refused AddDocument's rest before the refusal goes back
# (an asyncio client still writing may otherwise hear INTERNAL: grpc/grpc#36066).
DRAIN_BYTES = MAX_DOCUMENT_BYTES + 2 * MAX_CHUNK
DRAIN_SECONDS = 5.0

# As an assistant's `knowledge_bases` name them (the session's domain/assistant.py).
KNOWLEDGE_BASE = Rule(
    64,
    r"[a-z0-9][a-z0-9_-]*",
    "lowercase letters, digits, '_' or '-', starting with a letter or digit "
    "(a knowledge base name)",
)
DOCUMENT = Rule(255)
RULES: RequestRules = (
    field_rules(
        pb.AddDocumentHeader,
        knowledge_base=KNOWLEDGE_BASE,
        document=DOCUMENT,
        content_type=Rule(255),
    )
    | field_rules(pb.AddDocumentRequest, chunk=Rule(MAX_CHUNK))
    | field_rules(pb.ListDocumentsRequest, knowledge_base=KNOWLEDGE_BASE)
    | field_rules(pb.RemoveDocumentRequest, knowledge_base=KNOWLEDGE_BASE, document=DOCUMENT)
    | field_rules(pb.SearchRequest, knowledge_bases=Rule(MAX_SEARCHED_BASES), question=Rule(2000))
)
# The items of `knowledge_bases` are checked by the servicer (a rule bounds the list's length).

Context = grpc.aio.ServicerContext[Any, Any]


class InvalidRequest(Exception):
    """A request the method cannot serve as asked (INVALID_ARGUMENT); names the field."""


ERRORS: dict[type[BaseException], grpc.StatusCode] = {
    InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    UnreadableDocument: grpc.StatusCode.INVALID_ARGUMENT,
    EmbeddingError: grpc.StatusCode.UNAVAILABLE,
}


class KnowledgeBasesServicer(pb_grpc.KnowledgeBasesServicer):
    def __init__(self, knowledge: Knowledge) -> None:
        self._knowledge = knowledge

    async def AddDocument(
        self, request_iterator: AsyncIterator[pb.AddDocumentRequest], context: Context
    ) -> pb.AddDocumentResponse:
        """Read the header and the bytes (all checked), then read the document's text and
        keep its passages, replacing those of a document of that name. A refused call's rest
        is read first, so the client hears the refusal."""
        current_principal().require_role("write")
        try:
            header, data = await _document_of(request_iterator)
        except Exception:
            await drain_refused_stream(
                request_iterator, max_bytes=DRAIN_BYTES, max_seconds=DRAIN_SECONDS
            )
            raise
        text = document_text(data, header.document, header.content_type)
        replaced = any(
            found.document == header.document
            for found in await self._knowledge.documents(header.knowledge_base)
        )
        passages = await self._knowledge.add_document(header.knowledge_base, header.document, text)
        return pb.AddDocumentResponse(
            knowledge_base=header.knowledge_base,
            document=header.document,
            passages=passages,
            replaced=replaced,
        )

    async def ListDocuments(
        self, request: pb.ListDocumentsRequest, context: Context
    ) -> pb.ListDocumentsResponse:
        current_principal().require_role("read")
        found = await self._knowledge.documents(request.knowledge_base or None)
        return pb.ListDocumentsResponse(
            documents=[
                pb.Document(
                    knowledge_base=d.knowledge_base, document=d.document, passages=d.passages
                )
                for d in found
            ]
        )

    async def RemoveDocument(
        self, request: pb.RemoveDocumentRequest, context: Context
    ) -> pb.RemoveDocumentResponse:
        current_principal().require_role("write")
        _required(request.knowledge_base, "knowledge_base")
        _required(request.document, "document")
        removed = await self._knowledge.remove_document(request.knowledge_base, request.document)
        return pb.RemoveDocumentResponse(removed=removed)

    async def Search(self, request: pb.SearchRequest, context: Context) -> pb.SearchResponse:
        current_principal().require_role("read")
        if not request.knowledge_bases:
            raise InvalidRequest("knowledge_bases: name at least one knowledge base")
        for index, name in enumerate(request.knowledge_bases):
            KNOWLEDGE_BASE.check(name, f"knowledge_bases[{index}]")
            _required(name, f"knowledge_bases[{index}]")
        if not request.question.strip():
            raise InvalidRequest("question is required")
        if not 0 <= request.k <= MAX_K:
            raise InvalidRequest(f"k must be 1 to {MAX_K} (0: {DEFAULT_K}), got {request.k}")
        answer = await self._knowledge.search(
            list(request.knowledge_bases), request.question, request.k or DEFAULT_K
        )
        return pb.SearchResponse(
            passages=[
                pb.Passage(
                    knowledge_base=found.passage.knowledge_base,
                    document=found.passage.document,
                    position=found.passage.position,
                    text=found.passage.text,
                    score=found.score,
                    similarity=found.similarity or 0.0,
                )
                for found in answer.passages
            ],
            abstained=answer.abstained,
        )


async def _document_of(
    requests: AsyncIterator[pb.AddDocumentRequest],
) -> tuple[pb.AddDocumentHeader, bytes]:
    """The stream's header (checked) and the document's bytes (within the bounds)."""
    header: pb.AddDocumentHeader | None = None
    data = bytearray()
    async for request in requests:
        part = request.WhichOneof("part")
        if header is None:
            if part != "header":
                raise InvalidRequest("header: the first message of AddDocument must be its header")
            header = request.header
            _required(header.knowledge_base, "header.knowledge_base")
            _required(header.document, "header.document")
            essence = header.content_type.split(";", 1)[0].strip().lower()
            if essence not in KINDS:
                raise InvalidRequest(
                    f"header.content_type must be one of {', '.join(CONTENT_TYPES)}, "
                    f"got {header.content_type!r}"
                )
        elif part == "header":
            raise InvalidRequest("header: AddDocument takes one header, first")
        elif part == "chunk":
            data += request.chunk
            if len(data) > MAX_DOCUMENT_BYTES:
                raise InvalidRequest(f"chunk: a document is at most {MAX_DOCUMENT_BYTES} bytes")
    if header is None:
        raise InvalidRequest("header: AddDocument needs a header, then the document's bytes")
    if not data:
        raise InvalidRequest("chunk: the document is empty")
    return header, bytes(data)


def _required(value: str, field: str) -> None:
    if not value.strip():
        raise InvalidRequest(f"{field} is required")
