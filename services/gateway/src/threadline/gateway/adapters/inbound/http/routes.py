"""The seed REST API's endpoints, each translated to one gRPC call and back."""

from __future__ import annotations

from contextlib import ExitStack

from aiohttp import web

from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.contracts.session.v1 import session_pb2
from threadline.gateway.adapters.inbound.http.files import serve_file
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
)
from threadline.gateway.adapters.inbound.http.uploads import (
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
