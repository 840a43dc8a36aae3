"""The REST API's knowledge base endpoints: the knowledge bases listed, documents added
(the upload read by `knowledge`) and searched, through the AI responder's `KnowledgeBases`,
described for the OpenAPI document."""

from __future__ import annotations

from contextlib import ExitStack

from aiohttp import web

from threadline.contracts.knowledge.v1 import knowledge_pb2
from threadline.gateway.adapters.inbound.http import schemas
from threadline.gateway.adapters.inbound.http.errors import BadRequest
from threadline.gateway.adapters.inbound.http.idempotency import (
    answered_once,
    given_idempotency_key,
)
from threadline.gateway.adapters.inbound.http.knowledge import (
    add_document_requests,
    fingerprint,
    knowledge_bases_json,
    passage_json,
    read_documents,
)
from threadline.gateway.adapters.inbound.http.openapi import Answer, Operation, Parameter, described
from threadline.gateway.adapters.inbound.http.params import Query, credentials, path_text
from threadline.gateway.adapters.inbound.http.routes import (
    DEADLINE_SECONDS,
    UPLOAD_DEADLINE_SECONDS,
    UPSTREAMS,
    WHOLE,
)

knowledge_routes = web.RouteTableDef()


@knowledge_routes.get("/api/v1/knowledge-bases")
@described(
    Operation(
        "Every knowledge base, with how many documents and passages it has",
        "knowledge",
        answers={200: Answer("The knowledge bases", schemas.KnowledgeBaseList)},
    )
)
async def list_knowledge_bases(request: web.Request) -> web.Response:
    """Every knowledge base, with how many documents and passages it has."""
    metadata = credentials(request)
    Query.of(request)
    reply = await request.app[UPSTREAMS].knowledge.ListDocuments(
        knowledge_pb2.ListDocumentsRequest(), metadata=metadata, timeout=DEADLINE_SECONDS
    )
    return web.json_response({"data": knowledge_bases_json(list(reply.documents))})


_DOCUMENTS_FORM = {
    "type": "object",
    "properties": {
        "file": {"type": "array", "items": {"type": "string", "contentMediaType": "*/*"}}
    },
    "required": ["file"],
}


@knowledge_routes.post("/api/v1/knowledge-bases/{name}/documents")
@described(
    Operation(
        "Add documents (text, Markdown, HTML, PDF) to a knowledge base",
        "knowledge",
        body_media_types=("multipart/form-data",),
        body_schema=_DOCUMENTS_FORM,
        answers={200: Answer("What was added", schemas.DocumentsAdded)},
        idempotent_post=True,
    )
)
async def add_documents(request: web.Request) -> web.StreamResponse:
    """Documents (multipart: `file` parts) into a knowledge base, one `AddDocument` call each,
    in order (`knowledge`)."""
    metadata = credentials(request)
    Query.of(request)
    knowledge_base = path_text(request, "name", "knowledge_base")
    key = given_idempotency_key(request)
    with ExitStack() as spools:
        documents = await read_documents(request, spools)

        async def add() -> web.StreamResponse:
            added = []
            for document in documents:
                reply = await request.app[UPSTREAMS].knowledge.AddDocument(
                    add_document_requests(knowledge_base, document),
                    metadata=metadata,
                    timeout=UPLOAD_DEADLINE_SECONDS,
                )
                added.append(
                    {
                        "document": reply.document,
                        "passages": reply.passages,
                        "replaced": reply.replaced,
                    }
                )
            return web.json_response({"knowledge_base": knowledge_base, "documents": added})

        if not key:
            return await add()
        return await answered_once(request, key, fingerprint(knowledge_base, documents), add)


@knowledge_routes.get("/api/v1/knowledge-bases/{name}/search")
@described(
    Operation(
        "The passages of the knowledge base that best answer a question",
        "knowledge",
        query=(
            Parameter("q", "the question", required=True),
            Parameter("k", "how many passages (default 3)", WHOLE),
        ),
        answers={200: Answer("The passages", schemas.SearchResult)},
    )
)
async def search_knowledge_base(request: web.Request) -> web.Response:
    """The passages of the knowledge base that best answer `q` (`k` of them, default 3)."""
    metadata = credentials(request)
    query = Query.of(request)
    question = query.text("q")
    if not question:
        raise BadRequest("q is required: the question to search for")
    knowledge_base = path_text(request, "name", "knowledge_base")
    reply = await request.app[UPSTREAMS].knowledge.Search(
        knowledge_pb2.SearchRequest(
            knowledge_bases=[knowledge_base], question=question, k=query.integer("k")
        ),
        metadata=metadata,
        timeout=DEADLINE_SECONDS,
    )
    return web.json_response(
        {
            "knowledge_base": knowledge_base,
            "abstained": reply.abstained,
            "data": [passage_json(p) for p in reply.passages],
        }
    )
