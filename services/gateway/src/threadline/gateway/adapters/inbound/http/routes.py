"""The REST API's endpoints, each translated to gRPC calls and back, each described for the
OpenAPI document (`openapi.described`) by the same text that decides what it takes."""

from __future__ import annotations

import json
import uuid
from contextlib import ExitStack
from typing import Any

from aiohttp import web

from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.contracts.events.v1 import common_pb2
from threadline.contracts.knowledge.v1 import knowledge_pb2
from threadline.contracts.session.v1 import session_pb2
from threadline.gateway.adapters.inbound.http import schemas
from threadline.gateway.adapters.inbound.http.assistant_files import assistant_request
from threadline.gateway.adapters.inbound.http.errors import BadRequest, NotFound
from threadline.gateway.adapters.inbound.http.files import serve_file
from threadline.gateway.adapters.inbound.http.idempotency import (
    ANSWERED_REQUESTS,
    given_idempotency_key,
)
from threadline.gateway.adapters.inbound.http.knowledge import (
    add_document_requests,
    fingerprint,
    knowledge_bases_json,
    passage_json,
    read_documents,
)
from threadline.gateway.adapters.inbound.http.openapi import (
    Answer,
    Operation,
    Parameter,
    described,
)
from threadline.gateway.adapters.inbound.http.params import (
    INT32_MAX,
    Metadata,
    Query,
    body_text,
    credentials,
    json_object,
    media_type,
    optional_json_object,
    optional_text,
    path_text,
    required_text,
    yaml_object,
)
from threadline.gateway.adapters.inbound.http.shapes import (
    assistant_json,
    attachment_json,
    conversation_json,
    flow_json,
    message_json,
    metrics_json,
    session_status_json,
    template_id,
    template_json,
    tool_call_json,
)
from threadline.gateway.adapters.inbound.http.uploads import (
    idempotency_key,
    read_upload,
    send_files_requests,
)
from threadline.gateway.adapters.outbound.upstreams import Upstreams
from threadline.media import MediaStore
from threadline.rules.lifecycle import ABANDONED, ACTIVE, COMPLETED, ESCALATED
from threadline.rules.testchat import TEST_CHANNEL, WHATSAPP_CHANNEL
from threadline.servicekit.errors import quoted

# Long enough for a large page, short enough that a stuck upstream frees the HTTP request.
DEADLINE_SECONDS = 10.0
# Files of up to 100 MB in all go upstream in one call.
UPLOAD_DEADLINE_SECONDS = 120.0


UPSTREAMS = web.AppKey("upstreams", Upstreams)
MEDIA = web.AppKey("media", MediaStore)
routes = web.RouteTableDef()

STATUSES = (ACTIVE, ESCALATED, COMPLETED, ABANDONED)
CHANNELS = (WHATSAPP_CHANNEL, TEST_CHANNEL)  # a customer's WhatsApp, or the console's test chat
EXPORT_FORMATS = {"csv": "text/csv", "jsonl": "application/x-ndjson"}
_TIME = {"type": "string", "format": "date-time"}
_WHOLE = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
PAGE = (
    Parameter("page", "the page, from 1 (default 1)", _WHOLE),
    Parameter("size", "conversations a page (default 20, at most 100)", _WHOLE),
)
FILTERS = (
    Parameter("lead_id", "the lead's id"),
    Parameter("status", "the conversation's status", {"type": "string", "enum": list(STATUSES)}),
    Parameter("channel", "whatsapp, or test (the test chat)", {"enum": list(CHANNELS)}),
    Parameter("business_number", "the business's phone_number_id"),
    Parameter("customer_phone", "the customer's phone (wa_id), + and separators ignored"),
    Parameter("assistant", "the assistant's name"),
    Parameter("created_from", "created at or after (ISO-8601; no offset: UTC)", _TIME),
    Parameter("created_to", "created before", _TIME),
    Parameter("last_message_from", "last message at or after", _TIME),
    Parameter("last_message_to", "last message before", _TIME),
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


@routes.get("/api/v1/conversations")
@described(
    Operation(
        "List conversations, newest activity first (seed 002)",
        "conversations",
        query=(*PAGE, *FILTERS),
        answers={200: Answer("A page of conversations", schemas.ConversationPage)},
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
    return web.json_response(
        {
            "conversations": [conversation_json(c) for c in reply.conversations],
            "total": reply.total,
            "page": reply.page,
            "size": reply.size,
        }
    )


@routes.get("/api/v1/conversations/export")
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


@routes.get("/api/v1/conversations/{id}")
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


@routes.get("/api/v1/conversations/{id}/messages")
@described(
    Operation(
        "A window of the conversation's messages, oldest first (seed 002: an array)",
        "conversations",
        query=(
            Parameter("limit", "messages (default 100, at most 500)", _WHOLE),
            Parameter("offset", "messages skipped (default 0)", _WHOLE),
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


@routes.post("/api/v1/conversations/{id}/messages")
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


@routes.post("/api/v1/conversations/{id}/hand-off")
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


@routes.post("/api/v1/conversations/{id}/resume")
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


@routes.get("/api/v1/conversations/{id}/attachments")
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


@routes.get("/api/v1/conversations/{id}/tool-calls")
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


@routes.get("/api/v1/conversations/{id}/attachments/{message_id}/file")
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


@routes.post("/api/v1/conversations/{id}/files")
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


@routes.patch("/api/v1/conversations/{id}")
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


@routes.get("/api/crm/{customer}/session-status")
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


@routes.get("/api/v1/metrics")
@described(
    Operation(
        "Metrics of the filtered conversations (seed 003's and the rest), with a daily series",
        "metrics",
        query=(
            Parameter("period_from", "conversations created at or after", _TIME),
            Parameter("period_to", "conversations created before", _TIME),
            *FILTERS,
        ),
        answers={200: Answer("The metrics", schemas.Metrics)},
    )
)
async def get_metrics(request: web.Request) -> web.Response:
    metadata = credentials(request)
    query = Query.of(request)
    ask = pb.GetMetricsRequest(
        filter=conversation_filter(query),
        period_from=query.moment("period_from"),
        period_to=query.moment("period_to"),
    )
    reply = await request.app[UPSTREAMS].metrics.GetMetrics(
        ask, metadata=metadata, timeout=DEADLINE_SECONDS
    )
    return web.json_response(metrics_json(reply))


@routes.get("/api/v1/templates")
@described(
    Operation(
        "The templates registered for a business number",
        "templates",
        query=(Parameter("phone_number_id", "the business number", required=True),),
        answers={200: Answer("Its templates", schemas.TemplateList)},
    )
)
async def list_templates(request: web.Request) -> web.Response:
    metadata = credentials(request)
    number = Query.of(request).text("phone_number_id")
    if not number:
        raise BadRequest("phone_number_id is required: the business number")
    reply = await request.app[UPSTREAMS].commands.ListTemplates(
        session_pb2.ListTemplatesRequest(phone_number_id=number),
        metadata=metadata,
        timeout=DEADLINE_SECONDS,
    )
    return web.json_response({"templates": [template_json(t) for t in reply.templates]})


@routes.post("/api/v1/templates")
@described(
    Operation(
        "Register a template for a business number (role admin)",
        "templates",
        body=schemas.TemplateRegistration,
        answers={201: Answer("The template", schemas.Template)},
        idempotent_post=True,
    )
)
async def register_template(request: web.Request) -> web.Response:
    metadata = credentials(request)
    Query.of(request)
    body = await json_object(request)
    reply = await request.app[UPSTREAMS].commands.RegisterTemplate(
        session_pb2.RegisterTemplateRequest(
            phone_number_id=required_text(body, "phone_number_id"),
            name=required_text(body, "name"),
            language=required_text(body, "language"),
            category=required_text(body, "category"),
            body=required_text(body, "body"),
        ),
        metadata=metadata,
        timeout=DEADLINE_SECONDS,
    )
    return web.json_response(template_json(reply), status=201)


@routes.put("/api/v1/numbers/{phone_number_id}/autopilot")
@described(
    Operation(
        "Switch the AI on or off for a business number (role admin)",
        "numbers",
        body=schemas.Autopilot,
        answers={200: Answer("The number's autopilot", schemas.AutopilotSet)},
    )
)
async def set_autopilot(request: web.Request) -> web.Response:
    metadata = credentials(request)
    Query.of(request)
    body = await json_object(request)
    enabled = body.get("enabled")
    if not isinstance(enabled, bool):
        raise BadRequest("enabled must be true or false")
    reply = await request.app[UPSTREAMS].commands.SetAutopilot(
        session_pb2.SetAutopilotRequest(
            phone_number_id=path_text(request, "phone_number_id", "phone_number_id"),
            enabled=enabled,
        ),
        metadata=metadata,
        timeout=DEADLINE_SECONDS,
    )
    return web.json_response({"phone_number_id": reply.phone_number_id, "enabled": reply.enabled})


@routes.put("/api/v1/numbers/{phone_number_id}/auto-resolution")
@described(
    Operation(
        "After how many idle hours the number's open conversations are resolved (role admin)",
        "numbers",
        body=schemas.AutoResolution,
        answers={200: Answer("The number's threshold", schemas.AutoResolutionSet)},
    )
)
async def set_auto_resolution(request: web.Request) -> web.Response:
    """The auto-resolution threshold, 1 to 720 hours (12 until set). The reply delay is the
    assistant's `reply_delay_seconds` (`PUT /api/v1/assistants`)."""
    metadata = credentials(request)
    Query.of(request)
    body = await json_object(request)
    hours = body.get("hours")
    if (
        isinstance(hours, bool)
        or not isinstance(hours, int)
        or not -INT32_MAX <= hours <= INT32_MAX
    ):
        raise BadRequest("hours must be a whole number of hours")
    reply = await request.app[UPSTREAMS].commands.SetAutoResolution(
        session_pb2.SetAutoResolutionRequest(
            phone_number_id=path_text(request, "phone_number_id", "phone_number_id"),
            hours=hours,
        ),
        metadata=metadata,
        timeout=DEADLINE_SECONDS,
    )
    return web.json_response({"phone_number_id": reply.phone_number_id, "hours": reply.hours})


@routes.get("/api/v1/assistants")
@described(
    Operation(
        "The assistants serving the token's numbers",
        "assistants",
        query=(Parameter("phone_number_id", "only the one serving this number"),),
        answers={200: Answer("The assistants", schemas.AssistantList)},
    )
)
async def list_assistants(request: web.Request) -> web.Response:
    metadata = credentials(request)
    number = Query.of(request).text("phone_number_id")
    reply = await request.app[UPSTREAMS].commands.ListAssistants(
        session_pb2.ListAssistantsRequest(phone_number_id=number),
        metadata=metadata,
        timeout=DEADLINE_SECONDS,
    )
    return web.json_response({"assistants": [assistant_json(a) for a in reply.assistants]})


@routes.put("/api/v1/assistants")
@described(
    Operation(
        "Apply an assistant file (YAML or JSON, as `threadline assistants apply`; role admin)",
        "assistants",
        body_media_types=("application/yaml", "application/json"),
        body_schema={"type": "object", "description": "name, model, system_prompt, ..."},
        answers={200: Answer("The assistant as the session keeps it", schemas.AssistantApplied)},
    )
)
async def apply_assistant(request: web.Request) -> web.Response:
    """An assistant by name, created or updated; its `reply_delay_seconds` is the reply delay
    of the numbers it serves."""
    metadata = credentials(request)
    Query.of(request)
    ask = assistant_request(await yaml_object(request))
    reply = await request.app[UPSTREAMS].commands.ConfigureAssistant(
        ask, metadata=metadata, timeout=DEADLINE_SECONDS
    )
    return web.json_response(
        {
            "assistant": assistant_json(reply.assistant),
            "created": reply.created,
            "changed": reply.changed,
        }
    )


@routes.get("/api/v1/flows")
@described(
    Operation(
        "The flows running on the token's numbers",
        "flows",
        query=(Parameter("phone_number_id", "only the flows running on this number"),),
        answers={200: Answer("The flows", schemas.FlowList)},
    )
)
async def list_flows(request: web.Request) -> web.Response:
    metadata = credentials(request)
    number = Query.of(request).text("phone_number_id")
    reply = await request.app[UPSTREAMS].commands.ListFlows(
        session_pb2.ListFlowsRequest(phone_number_id=number),
        metadata=metadata,
        timeout=DEADLINE_SECONDS,
    )
    return web.json_response({"flows": [flow_json(f) for f in reply.flows]})


@routes.put("/api/v1/flows")
@described(
    Operation(
        "Apply a flow file (YAML or JSON, as `threadline flows apply`; role admin)",
        "flows",
        body_media_types=("application/yaml", "application/json"),
        body_schema={"type": "string", "description": "the flow file's text"},
        answers={200: Answer("The flow as the session keeps it", schemas.FlowApplied)},
    )
)
async def apply_flow(request: web.Request) -> web.Response:
    """The flow by its id, created or updated; the session checks it with the shared flow
    parser (400 naming the path at fault)."""
    metadata = credentials(request)
    Query.of(request)
    definition = await body_text(request)
    reply = await request.app[UPSTREAMS].commands.ConfigureFlow(
        session_pb2.ConfigureFlowRequest(definition=definition),
        metadata=metadata,
        timeout=DEADLINE_SECONDS,
    )
    return web.json_response(
        {"flow": flow_json(reply.flow), "created": reply.created, "changed": reply.changed}
    )


@routes.get("/api/v1/knowledge-bases")
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


@routes.post("/api/v1/knowledge-bases/{name}/documents")
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
async def add_documents(request: web.Request) -> web.Response:
    """Documents (multipart: `file` parts) into a knowledge base, one `AddDocument` call each,
    in order (`knowledge`)."""
    metadata = credentials(request)
    Query.of(request)
    knowledge_base = path_text(request, "name", "knowledge_base")
    key = given_idempotency_key(request)
    answered = request.app[ANSWERED_REQUESTS]
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
@described(
    Operation(
        "The passages of the knowledge base that best answer a question",
        "knowledge",
        query=(
            Parameter("q", "the question", required=True),
            Parameter("k", "how many passages (default 3)", _WHOLE),
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
