"""The seed REST API's endpoints, each translated to one gRPC call and back."""

from __future__ import annotations

from contextlib import ExitStack

from aiohttp import web

from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.contracts.knowledge.v1 import knowledge_pb2
from threadline.contracts.session.v1 import session_pb2
from threadline.gateway.adapters.inbound.http.errors import BadRequest
from threadline.gateway.adapters.inbound.http.files import serve_file
from threadline.gateway.adapters.inbound.http.knowledge import (
    AnsweredUploads,
    add_document_requests,
    fingerprint,
    knowledge_bases_json,
    passage_json,
    read_documents,
)
from threadline.gateway.adapters.inbound.http.params import (
    Query,
    credentials,
    json_object,
    media_type,
    optional_text,
    path_text,
    required_text,
)
from threadline.gateway.adapters.inbound.http.shapes import (
    attachment_json,
    conversation_json,
    message_json,
    session_status_json,
    tool_call_json,
)
from threadline.gateway.adapters.inbound.http.uploads import (
    given_idempotency_key,
    idempotency_key,
    read_upload,
    send_files_requests,
)
from threadline.gateway.adapters.outbound.upstreams import Upstreams
from threadline.media import MediaStore

# Long enough for a large page, short enough that a stuck upstream frees the HTTP request.
DEADLINE_SECONDS = 10.0
# Files of up to 100 MB in all go upstream in one call.
UPLOAD_DEADLINE_SECONDS = 120.0


UPSTREAMS = web.AppKey("upstreams", Upstreams)
MEDIA = web.AppKey("media", MediaStore)
ANSWERED_UPLOADS = web.AppKey("answered_uploads", AnsweredUploads)
routes = web.RouteTableDef()


@routes.get("/api/v1/conversations")
async def list_conversations(request: web.Request) -> web.Response:
    metadata = credentials(request)
    query = Query(request.query)
    ask = pb.ListConversationsRequest(
        page=query.integer("page"),
        size=query.integer("size"),
        lead_id=query.text("lead_id"),
        status=query.text("status"),
        channel=query.text("channel"),
        business_number=query.text("business_number"),
        customer_phone=query.text("customer_phone"),
        assistant=query.text("assistant"),
        created_from=query.moment("created_from"),
        created_to=query.moment("created_to"),
        last_message_from=query.moment("last_message_from"),
        last_message_to=query.moment("last_message_to"),
    )
    reply = await request.app[UPSTREAMS].queries.ListConversations(
        ask, metadata=metadata, timeout=DEADLINE_SECONDS
    )
    return web.json_response(
        {
            "data": [conversation_json(c) for c in reply.conversations],
            "total": reply.total,
            "page": reply.page,
            "size": reply.size,
        }
    )


@routes.get("/api/v1/conversations/{id}")
async def get_conversation(request: web.Request) -> web.Response:
    metadata = credentials(request)
    ask = pb.GetConversationRequest(conversation_id=path_text(request, "id", "conversation_id"))
    reply = await request.app[UPSTREAMS].queries.GetConversation(
        ask, metadata=metadata, timeout=DEADLINE_SECONDS
    )
    conversation = conversation_json(reply.conversation)
    conversation["messages"] = [message_json(m) for m in reply.messages]
    return web.json_response(conversation)


@routes.get("/api/v1/conversations/{id}/messages")
async def list_messages(request: web.Request) -> web.Response:
    metadata = credentials(request)
    query = Query(request.query)
    ask = pb.ListMessagesRequest(
        conversation_id=path_text(request, "id", "conversation_id"),
        limit=query.integer("limit"),
        offset=query.integer("offset"),
    )
    reply = await request.app[UPSTREAMS].queries.ListMessages(
        ask, metadata=metadata, timeout=DEADLINE_SECONDS
    )
    return web.json_response(
        {"data": [message_json(m) for m in reply.messages], "total": reply.total}
    )


@routes.get("/api/v1/conversations/{id}/attachments")
async def list_attachments(request: web.Request) -> web.Response:
    metadata = credentials(request)
    query = Query(request.query)
    ask = pb.ListAttachmentsRequest(
        conversation_id=path_text(request, "id", "conversation_id"),
        media_type=media_type(query, "type"),
        page=query.integer("page"),
        size=query.integer("size"),
    )
    reply = await request.app[UPSTREAMS].queries.ListAttachments(
        ask, metadata=metadata, timeout=DEADLINE_SECONDS
    )
    return web.json_response(
        {
            "data": [attachment_json(a) for a in reply.attachments],
            "total": reply.total,
            "page": reply.page,
            "size": reply.size,
        }
    )


@routes.get("/api/v1/conversations/{id}/tool-calls")
async def list_tool_calls(request: web.Request) -> web.Response:
    """The assistant's calls of the business's HTTP tools in the conversation, oldest first."""
    metadata = credentials(request)
    query = Query(request.query)
    ask = pb.ListToolCallsRequest(
        conversation_id=path_text(request, "id", "conversation_id"),
        page=query.integer("page"),
        size=query.integer("size"),
    )
    reply = await request.app[UPSTREAMS].queries.ListToolCalls(
        ask, metadata=metadata, timeout=DEADLINE_SECONDS
    )
    return web.json_response(
        {
            "data": [tool_call_json(c) for c in reply.tool_calls],
            "total": reply.total,
            "page": reply.page,
            "size": reply.size,
        }
    )


@routes.get("/api/v1/conversations/{id}/attachments/{message_id}/file")
async def attachment_file(request: web.Request) -> web.StreamResponse:
    """The file itself, streamed from the media store; analytics first checks the token may
    see the conversation and says where the file is."""
    metadata = credentials(request)
    ask = pb.GetAttachmentRequest(
        conversation_id=path_text(request, "id", "conversation_id"),
        message_id=path_text(request, "message_id", "message_id"),
    )
    found = await request.app[UPSTREAMS].queries.GetAttachment(
        ask, metadata=metadata, timeout=DEADLINE_SECONDS
    )
    return await serve_file(request, request.app[MEDIA], found)


@routes.post("/api/v1/conversations/{id}/files")
async def send_files(request: web.Request) -> web.Response:
    """An operator's files (multipart: `file` parts, `caption`s, an optional `text`), streamed
    into the session's `SendFiles`: one message per file, then the text (`uploads`)."""
    metadata = credentials(request)
    conversation_id = path_text(request, "id", "conversation_id")
    key = idempotency_key(request)
    with ExitStack() as spools:
        upload = await read_upload(request, spools)
        reply = await request.app[UPSTREAMS].commands.SendFiles(
            send_files_requests(conversation_id, upload, key),
            metadata=metadata,
            timeout=UPLOAD_DEADLINE_SECONDS,
        )
    return web.json_response(
        {"conversation_id": reply.conversation_id, "message_ids": list(reply.message_ids)},
        status=202,
    )


@routes.patch("/api/v1/conversations/{id}")
async def update_conversation_status(request: web.Request) -> web.Response:
    metadata = credentials(request)
    body = await json_object(request)
    ask = session_pb2.UpdateConversationStatusRequest(
        conversation_id=path_text(request, "id", "conversation_id"),
        status=required_text(body, "status"),
        reason=optional_text(body, "reason"),
    )
    reply = await request.app[UPSTREAMS].commands.UpdateConversationStatus(
        ask, metadata=metadata, timeout=DEADLINE_SECONDS
    )
    return web.json_response({"id": reply.conversation_id, "status": reply.status})


@routes.get("/api/crm/{customer}/session-status")
async def session_status(request: web.Request) -> web.Response:
    metadata = credentials(request)
    ask = pb.GetSessionStatusRequest(
        business_number=Query(request.query).text("business_number"),
        customer=path_text(request, "customer", "customer"),
    )
    reply = await request.app[UPSTREAMS].queries.GetSessionStatus(
        ask, metadata=metadata, timeout=DEADLINE_SECONDS
    )
    return web.json_response(session_status_json(reply))


@routes.get("/api/v1/knowledge-bases")
async def list_knowledge_bases(request: web.Request) -> web.Response:
    """Every knowledge base, with how many documents and passages it has."""
    metadata = credentials(request)
    reply = await request.app[UPSTREAMS].knowledge.ListDocuments(
        knowledge_pb2.ListDocumentsRequest(), metadata=metadata, timeout=DEADLINE_SECONDS
    )
    return web.json_response({"data": knowledge_bases_json(list(reply.documents))})


@routes.post("/api/v1/knowledge-bases/{name}/documents")
async def add_documents(request: web.Request) -> web.Response:
    """Documents (multipart: `file` parts) into a knowledge base, one `AddDocument` call each,
    in order (`knowledge`)."""
    metadata = credentials(request)
    knowledge_base = path_text(request, "name", "knowledge_base")
    key = given_idempotency_key(request)
    answered = request.app[ANSWERED_UPLOADS]
    authorization = metadata[0][1]
    with ExitStack() as spools:
        documents = await read_documents(request, spools)
        upload = fingerprint(knowledge_base, documents) if key else ""
        if key and (earlier := answered.answer(authorization, key, upload)) is not None:
            return web.json_response(earlier)
        added = []
        for document in documents:
            reply = await request.app[UPSTREAMS].knowledge.AddDocument(
                add_document_requests(knowledge_base, document),
                metadata=metadata,
                timeout=UPLOAD_DEADLINE_SECONDS,
            )
            added.append(
                {"document": reply.document, "passages": reply.passages, "replaced": reply.replaced}
            )
    answer = {"knowledge_base": knowledge_base, "documents": added}
    if key:
        answered.remember(authorization, key, upload, answer)
    return web.json_response(answer)


@routes.get("/api/v1/knowledge-bases/{name}/search")
async def search_knowledge_base(request: web.Request) -> web.Response:
    """The passages of the knowledge base that best answer `q` (`k` of them, default 3)."""
    metadata = credentials(request)
    query = Query(request.query)
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
