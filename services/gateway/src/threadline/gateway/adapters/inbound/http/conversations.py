"""The REST API's conversation endpoints: the list and its filters, the export, one
conversation, its messages (read and sent), attachments and their files, operators' files,
tool calls, status changes, hand-off and resume, and seed 000's session status; each
translated to gRPC calls and back and described for the OpenAPI document
(`openapi.described`) by the same text that decides what it takes."""

from __future__ import annotations

import json
import uuid
from contextlib import ExitStack
from typing import Any

from aiohttp import web

from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.contracts.events.v1 import common_pb2
from threadline.contracts.session.v1 import session_pb2
from threadline.gateway.adapters.inbound.http import schemas
from threadline.gateway.adapters.inbound.http.errors import BadRequest, NotFound
from threadline.gateway.adapters.inbound.http.files import serve_file
from threadline.gateway.adapters.inbound.http.idempotency import given_idempotency_key
from threadline.gateway.adapters.inbound.http.openapi import Answer, Operation, Parameter, described
from threadline.gateway.adapters.inbound.http.params import (
    Metadata,
    Query,
    credentials,
    json_object,
    media_type,
    optional_json_object,
    optional_text,
    path_text,
    required_text,
)
from threadline.gateway.adapters.inbound.http.routes import (
    DEADLINE_SECONDS,
    MEDIA,
    TIME,
    UPLOAD_DEADLINE_SECONDS,
    UPSTREAMS,
    WHOLE,
)
from threadline.gateway.adapters.inbound.http.shapes import (
    attachment_json,
    conversation_json,
    message_json,
    session_status_json,
    template_id,
    tool_call_json,
)
from threadline.gateway.adapters.inbound.http.uploads import (
    idempotency_key,
    read_upload,
    send_files_requests,
)
from threadline.gateway.adapters.outbound.upstreams import Upstreams
from threadline.rules.lifecycle import ABANDONED, ACTIVE, COMPLETED, ESCALATED
from threadline.rules.testchat import TEST_CHANNEL, WHATSAPP_CHANNEL
from threadline.servicekit.errors import quoted

conversation_routes = web.RouteTableDef()

STATUSES = (ACTIVE, ESCALATED, COMPLETED, ABANDONED)
CHANNELS = (WHATSAPP_CHANNEL, TEST_CHANNEL)  # a customer's WhatsApp, or the console's test chat
EXPORT_FORMATS = {"csv": "text/csv", "jsonl": "application/x-ndjson"}
PAGE = (
    Parameter("page", "the page, from 1 (default 1)", WHOLE),
    Parameter("size", "conversations a page (default 20, at most 100)", WHOLE),
)
FILTERS = (
    Parameter("lead_id", "the lead's id"),
    Parameter("status", "the conversation's status", {"type": "string", "enum": list(STATUSES)}),
    Parameter("channel", "whatsapp, or test (the test chat)", {"enum": list(CHANNELS)}),
    Parameter("business_number", "the business's phone_number_id"),
    Parameter("customer_phone", "the customer's phone (wa_id), + and separators ignored"),
    Parameter("assistant", "the assistant's name"),
    Parameter("created_from", "created at or after (ISO-8601; no offset: UTC)", TIME),
    Parameter("created_to", "created before", TIME),
    Parameter("last_message_from", "last message at or after", TIME),
    Parameter("last_message_to", "last message before", TIME),
)


def conversation_filter(query: Query) -> pb.ConversationFilter:
    """The list's filters, shared by the list, the metrics and the export; an unknown status
    or channel is refused by name."""
    return pb.ConversationFilter(
        lead_id=query.text("lead_id"),
        status=query.choice("status", STATUSES),
        channel=query.choice("channel", CHANNELS),
        business_number=query.text("business_number"),
        customer_phone=query.text("customer_phone"),
        assistant=query.text("assistant"),
        created_from=query.moment("created_from"),
        created_to=query.moment("created_to"),
        last_message_from=query.moment("last_message_from"),
        last_message_to=query.moment("last_message_to"),
    )


@conversation_routes.get("/api/v1/conversations")
@described(
    Operation(
        "List conversations, newest activity first (seed 002)",
        "conversations",
        query=(*PAGE, *FILTERS),
        answers={
            200: Answer(
                "A page of conversations; `total` is counted up to 10,000, and past that "
                "estimated, which the X-Total-Estimated: true header says",
                schemas.ConversationPage,
            )
        },
    )
)
async def list_conversations(request: web.Request) -> web.Response:
    metadata = credentials(request)
    query = Query.of(request)
    found = conversation_filter(query)
    ask = pb.ListConversationsRequest(
        page=query.integer("page"),
        size=query.integer("size"),
        lead_id=found.lead_id,
        status=found.status,
        channel=found.channel,
        business_number=found.business_number,
        customer_phone=found.customer_phone,
        assistant=found.assistant,
        created_from=found.created_from if found.HasField("created_from") else None,
        created_to=found.created_to if found.HasField("created_to") else None,
        last_message_from=found.last_message_from if found.HasField("last_message_from") else None,
        last_message_to=found.last_message_to if found.HasField("last_message_to") else None,
    )
    reply = await request.app[UPSTREAMS].queries.ListConversations(
        ask, metadata=metadata, timeout=DEADLINE_SECONDS
    )
    # Past 10,000 conversations `total` is the database's estimate, not a count: said in a
    # header, so that the body keeps seed 002's shape.
    estimated = {"X-Total-Estimated": "true"} if reply.total_estimated else None
    return web.json_response(
        {
            "conversations": [conversation_json(c) for c in reply.conversations],
            "total": reply.total,
            "page": reply.page,
            "size": reply.size,
        },
        headers=estimated,
    )


@conversation_routes.get("/api/v1/conversations/export")
@described(
    Operation(
        "Export the filtered conversations as CSV or JSON Lines, streamed",
        "conversations",
        query=(
            Parameter("format", "csv (default) or jsonl", {"enum": list(EXPORT_FORMATS)}),
            Parameter(
                "include_messages", "true: each conversation's messages too", {"type": "boolean"}
            ),
            *FILTERS,
        ),
        answers={
            200: Answer(
                "The conversations, one a line (CSV with a header row)",
                media_types=tuple(EXPORT_FORMATS.values()),
                schema={"type": "string"},
            )
        },
    )
)
async def export_conversations(request: web.Request) -> web.StreamResponse:
    """Conversations matching the list's filters, streamed from analytics' export in chunks
    (constant memory whatever the size); `Content-Disposition` names the file."""
    metadata = credentials(request)
    query = Query.of(request)
    export_format = query.choice("format", tuple(EXPORT_FORMATS)) or "csv"
    ask = pb.ExportConversationsRequest(
        filter=conversation_filter(query),
        format=export_format,
        include_messages=query.flag("include_messages"),
    )
    chunks = request.app[UPSTREAMS].metrics.ExportConversations(
        ask, metadata=metadata, timeout=UPLOAD_DEADLINE_SECONDS
    )
    # The first chunk (or the refusal) before the answer starts: a refusal is still a 4xx.
    iterator = chunks.__aiter__()
    try:
        first: pb.ExportChunk | None = await iterator.__anext__()
    except StopAsyncIteration:
        first = None
    response = web.StreamResponse(
        headers={
            "Content-Type": f"{EXPORT_FORMATS[export_format]}; charset=utf-8",
            "Content-Disposition": f'attachment; filename="conversations.{export_format}"',
        }
    )
    await response.prepare(request)
    if first is not None:
        await response.write(first.data)
        async for chunk in iterator:
            await response.write(chunk.data)
    await response.write_eof()
    return response


@conversation_routes.get("/api/v1/conversations/{id}")
@described(
    Operation(
        "A conversation with all its messages, oldest first",
        "conversations",
        answers={200: Answer("The conversation", schemas.ConversationWithMessages)},
    )
)
async def get_conversation(request: web.Request) -> web.Response:
    metadata = credentials(request)
    Query.of(request)
    ask = pb.GetConversationRequest(conversation_id=path_text(request, "id", "conversation_id"))
    reply = await request.app[UPSTREAMS].queries.GetConversation(
        ask, metadata=metadata, timeout=DEADLINE_SECONDS
    )
    conversation = conversation_json(reply.conversation)
    conversation["messages"] = [message_json(m) for m in reply.messages]
    return web.json_response(conversation)


@conversation_routes.get("/api/v1/conversations/{id}/messages")
@described(
    Operation(
        "A window of the conversation's messages, oldest first (seed 002: an array)",
        "conversations",
        query=(
            Parameter("limit", "messages (default 100, at most 500)", WHOLE),
            Parameter("offset", "messages skipped (default 0)", WHOLE),
        ),
        answers={
            200: Answer(
                "The messages; the X-Total-Count header says how many there are in all",
                schemas.Message,
                array=True,
            )
        },
    )
)
async def list_messages(request: web.Request) -> web.Response:
    metadata = credentials(request)
    query = Query.of(request)
    ask = pb.ListMessagesRequest(
        conversation_id=path_text(request, "id", "conversation_id"),
        limit=query.integer("limit"),
        offset=query.integer("offset"),
    )
    reply = await request.app[UPSTREAMS].queries.ListMessages(
        ask, metadata=metadata, timeout=DEADLINE_SECONDS
    )
    return web.json_response(
        [message_json(m) for m in reply.messages], headers={"X-Total-Count": str(reply.total)}
    )


@conversation_routes.post("/api/v1/conversations/{id}/messages")
@described(
    Operation(
        "Send a message: text, interactive (buttons, lists) or a template",
        "conversations",
        body=schemas.MessageSend,
        answers={202: Answer("Queued for WhatsApp", schemas.MessageSent)},
        idempotent_post=True,
    )
)
async def send_message(request: web.Request) -> web.Response:
    """Queued by the session's `SendMessage`: outside the 24-hour window only a registered
    template is taken (409 naming the templates that fit)."""
    metadata = credentials(request)
    conversation_id = path_text(request, "id", "conversation_id")
    Query.of(request)
    body = await json_object(request)
    ask = session_pb2.SendMessageRequest(
        conversation_id=conversation_id,
        content=message_content(body),
        idempotency_key=given_idempotency_key(request) or f"message-{uuid.uuid4()}",
        quoted_message_id=optional_text(body, "quoted_message_id"),
    )
    reply = await request.app[UPSTREAMS].commands.SendMessage(
        ask, metadata=metadata, timeout=DEADLINE_SECONDS
    )
    return web.json_response(
        {"message_id": reply.message_id, "conversation_id": reply.conversation_id}, status=202
    )


def message_content(body: dict[str, Any]) -> common_pb2.MessageContent:
    """The message a send's body asks for, as the session takes it; refused naming the field."""
    known = {"type", "text", "interactive", "template", "quoted_message_id"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise BadRequest(f"{unknown[0][:64]}: unknown field (give {', '.join(sorted(known))})")
    kind = required_text(body, "type")
    if kind == "text":
        return common_pb2.MessageContent(type="text", text=required_text(body, "text"))
    if kind == "interactive":
        interactive = body.get("interactive")
        if not isinstance(interactive, dict) or not interactive:
            raise BadRequest("interactive must be WhatsApp's interactive object")
        return common_pb2.MessageContent(type="interactive", payload_json=json.dumps(interactive))
    if kind == "template":
        template = body.get("template")
        if not isinstance(template, dict):
            raise BadRequest("template must be an object: name, language, parameters")
        parameters = template.get("parameters", [])
        if not isinstance(parameters, list) or not all(isinstance(p, str) for p in parameters):
            raise BadRequest("template.parameters must be a list of texts")
        payload = {
            "name": required_text(template, "name"),
            "language": {"code": required_text(template, "language")},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": p} for p in parameters]}
            ],
        }
        return common_pb2.MessageContent(type="template", payload_json=json.dumps(payload))
    raise BadRequest(f"type must be one of interactive, template, text, got {quoted(kind)}")


@conversation_routes.post("/api/v1/conversations/{id}/hand-off")
@described(
    Operation(
        "Hand the conversation to a human: the AI stops answering it",
        "conversations",
        body=schemas.HandOff,
        answers={200: Answer("The conversation's status", schemas.ConversationStatus)},
        idempotent_post=True,
    )
)
async def hand_off(request: web.Request) -> web.Response:
    metadata = credentials(request)
    Query.of(request)
    body = await optional_json_object(request)
    reply = await request.app[UPSTREAMS].commands.HandOff(
        session_pb2.HandOffRequest(
            conversation_id=path_text(request, "id", "conversation_id"),
            reason=optional_text(body, "reason"),
        ),
        metadata=metadata,
        timeout=DEADLINE_SECONDS,
    )
    return web.json_response({"id": reply.conversation_id, "status": reply.status})


@conversation_routes.post("/api/v1/conversations/{id}/resume")
@described(
    Operation(
        "Give the conversation back to the AI",
        "conversations",
        answers={200: Answer("The conversation's status", schemas.ConversationStatus)},
        idempotent_post=True,
    )
)
async def resume(request: web.Request) -> web.Response:
    metadata = credentials(request)
    Query.of(request)
    reply = await request.app[UPSTREAMS].commands.ResumeAutopilot(
        session_pb2.ResumeAutopilotRequest(
            conversation_id=path_text(request, "id", "conversation_id")
        ),
        metadata=metadata,
        timeout=DEADLINE_SECONDS,
    )
    return web.json_response({"id": reply.conversation_id, "status": reply.status})


@conversation_routes.get("/api/v1/conversations/{id}/attachments")
@described(
    Operation(
        "The conversation's attachments, oldest first",
        "conversations",
        query=(
            Parameter("type", "image, video, audio, document or sticker", {"type": "string"}),
            *PAGE,
        ),
        answers={200: Answer("A page of attachments", schemas.AttachmentPage)},
    )
)
async def list_attachments(request: web.Request) -> web.Response:
    metadata = credentials(request)
    query = Query.of(request)
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


@conversation_routes.get("/api/v1/conversations/{id}/tool-calls")
@described(
    Operation(
        "The assistant's calls of the business's HTTP tools, oldest first",
        "conversations",
        query=PAGE,
        answers={200: Answer("A page of tool calls", schemas.ToolCallPage)},
    )
)
async def list_tool_calls(request: web.Request) -> web.Response:
    """The assistant's calls of the business's HTTP tools in the conversation, oldest first."""
    metadata = credentials(request)
    query = Query.of(request)
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


@conversation_routes.get("/api/v1/conversations/{id}/attachments/{message_id}/file")
@described(
    Operation(
        "An attachment's file",
        "conversations",
        answers={
            200: Answer(
                "The file's bytes, with its type",
                media_types=("application/octet-stream",),
                schema={"type": "string", "contentMediaType": "application/octet-stream"},
            )
        },
    )
)
async def attachment_file(request: web.Request) -> web.StreamResponse:
    """The file itself, streamed from the media store; analytics first checks the token may
    see the conversation and says where the file is."""
    metadata = credentials(request)
    Query.of(request)
    ask = pb.GetAttachmentRequest(
        conversation_id=path_text(request, "id", "conversation_id"),
        message_id=path_text(request, "message_id", "message_id"),
    )
    found = await request.app[UPSTREAMS].queries.GetAttachment(
        ask, metadata=metadata, timeout=DEADLINE_SECONDS
    )
    return await serve_file(request, request.app[MEDIA], found)


_FILES_FORM = {
    "type": "object",
    "properties": {
        "file": {"type": "array", "items": {"type": "string", "contentMediaType": "*/*"}},
        "caption": {"type": "array", "items": {"type": "string"}},
        "text": {"type": "string"},
    },
    "required": ["file"],
}


@conversation_routes.post("/api/v1/conversations/{id}/files")
@described(
    Operation(
        "Send files (and a text after them) to the customer",
        "conversations",
        body_media_types=("multipart/form-data",),
        body_schema=_FILES_FORM,
        answers={202: Answer("Queued for WhatsApp, one message a file", schemas.FilesSent)},
        idempotent_post=True,
    )
)
async def send_files(request: web.Request) -> web.Response:
    """An operator's files (multipart: `file` parts, `caption`s, an optional `text`), streamed
    into the session's `SendFiles`: one message per file, then the text (`uploads`)."""
    metadata = credentials(request)
    conversation_id = path_text(request, "id", "conversation_id")
    Query.of(request)
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


@conversation_routes.patch("/api/v1/conversations/{id}")
@described(
    Operation(
        "Change the conversation's status",
        "conversations",
        body=schemas.StatusChange,
        answers={200: Answer("The conversation's status", schemas.ConversationStatus)},
    )
)
async def update_conversation_status(request: web.Request) -> web.Response:
    metadata = credentials(request)
    Query.of(request)
    body = await json_object(request)
    status = required_text(body, "status")
    if status not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(STATUSES)}, got {quoted(status)}")
    ask = session_pb2.UpdateConversationStatusRequest(
        conversation_id=path_text(request, "id", "conversation_id"),
        status=status,
        reason=optional_text(body, "reason"),
    )
    reply = await request.app[UPSTREAMS].commands.UpdateConversationStatus(
        ask, metadata=metadata, timeout=DEADLINE_SECONDS
    )
    return web.json_response({"id": reply.conversation_id, "status": reply.status})


@conversation_routes.get("/api/crm/{customer}/session-status")
@described(
    Operation(
        "The 24-hour window with a customer, and the templates when it is closed (seed 000)",
        "conversations",
        query=(
            Parameter(
                "business_number",
                "the business's phone_number_id; may be left out when the customer has written"
                " to only one of the token's numbers",
            ),
        ),
        answers={200: Answer("The window", schemas.SessionStatus)},
    )
)
async def session_status(request: web.Request) -> web.Response:
    metadata = credentials(request)
    customer = path_text(request, "customer", "customer")
    upstreams = request.app[UPSTREAMS]
    number = Query.of(request).text("business_number") or await _only_number_of(
        upstreams, customer, metadata
    )
    reply = await upstreams.queries.GetSessionStatus(
        pb.GetSessionStatusRequest(business_number=number, customer=customer),
        metadata=metadata,
        timeout=DEADLINE_SECONDS,
    )
    bodies: dict[str, str] = {}
    if reply.templates:
        registered = await upstreams.commands.ListTemplates(
            session_pb2.ListTemplatesRequest(phone_number_id=number),
            metadata=metadata,
            timeout=DEADLINE_SECONDS,
        )
        bodies = {template_id(t.name, t.language): t.body for t in registered.templates}
    return web.json_response(session_status_json(reply, number, bodies))


async def _only_number_of(upstreams: Upstreams, customer: str, metadata: Metadata) -> str:
    """The one business number of the token's that `customer` has written to."""
    reply = await upstreams.queries.ListConversations(
        pb.ListConversationsRequest(customer_phone=customer, size=100),
        metadata=metadata,
        timeout=DEADLINE_SECONDS,
    )
    numbers = sorted({c.business_number for c in reply.conversations})
    if not numbers:
        raise NotFound(f"customer {quoted(customer)} has no conversation this token may see")
    if len(numbers) > 1:
        raise BadRequest(
            "business_number is required: the customer has written to "
            + ", ".join(quoted(n) for n in numbers[:5])
        )
    return numbers[0]
