"""gRPC adapters: `SessionCommands` and `EventLog`. Each method only translates.

Every request field is bounded before a method runs (`request_rules.RULES`, checked by the
server kit). An id that is not a conversation (or, for `ReadStream`, a stream) of the caller's
numbers is NOT_FOUND, whatever it is otherwise: another tenant's conversation, a contact, a
key, a business number or nothing.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import grpc

from threadline.contracts.events.v1 import common_pb2 as common_pb
from threadline.contracts.events.v1 import session_pb2 as events_pb
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.media import MediaStore
from threadline.servicekit.auth import PermissionDenied, current_principal
from threadline.servicekit.errors import quoted
from threadline.servicekit.telemetry import current_traceparent
from threadline.servicekit.validation import json_value
from threadline.session.adapters.inbound.api_token_messages import api_token_pb
from threadline.session.adapters.inbound.file_stream import (
    drain,
    files_of,
    header_of,
    keep_file,
)
from threadline.session.adapters.inbound.webhook_commands import WebhookCommands
from threadline.session.adapters.integration_events.incoming_facts import content
from threadline.session.adapters.integration_events.session_events import SessionEvents
from threadline.session.adapters.outbound.stored_records import StoredRecords
from threadline.session.adapters.outbound.writer import EventStoreWriter
from threadline.session.application.assistants import AssistantView
from threadline.session.application.conversations import Conversations
from threadline.session.application.facts import MessageFromTester, OutboundRequest
from threadline.session.application.flows import FlowView
from threadline.session.application.sending_files import FilesRequest
from threadline.session.application.webhooks import WebhookNotFound
from threadline.session.domain.api_token import ApiTokenNotFound, ApiTokenScope, ScopeExceeded
from threadline.session.domain.assistant import AssistantSettings
from threadline.session.domain.business_number import Template, TemplateNotFound
from threadline.session.domain.errors import (
    ConversationNotFound,
    DomainError,
    InvalidConfiguration,
    InvalidMessage,
    InvalidTransition,
    NumbersNotCovered,
    WindowClosed,
)
from threadline.session.domain.flow import FlowSettings


class InvalidRequest(Exception):
    """A request the method cannot serve as asked (INVALID_ARGUMENT)."""


class StreamNotFound(LookupError):
    """No stream by this id that the caller may read (another tenant's looks the same)."""

    def __init__(self, stream_id: object) -> None:
        super().__init__(f"stream {stream_id} was not found")


ERRORS: dict[type[BaseException], grpc.StatusCode] = {
    ConversationNotFound: grpc.StatusCode.NOT_FOUND,
    StreamNotFound: grpc.StatusCode.NOT_FOUND,
    WebhookNotFound: grpc.StatusCode.NOT_FOUND,
    TemplateNotFound: grpc.StatusCode.FAILED_PRECONDITION,
    WindowClosed: grpc.StatusCode.FAILED_PRECONDITION,
    InvalidTransition: grpc.StatusCode.FAILED_PRECONDITION,
    InvalidMessage: grpc.StatusCode.INVALID_ARGUMENT,
    InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    InvalidConfiguration: grpc.StatusCode.INVALID_ARGUMENT,
    NumbersNotCovered: grpc.StatusCode.PERMISSION_DENIED,
    ApiTokenNotFound: grpc.StatusCode.NOT_FOUND,
    ScopeExceeded: grpc.StatusCode.PERMISSION_DENIED,
    DomainError: grpc.StatusCode.FAILED_PRECONDITION,
}
PAGE = 1000  # events per read from the store, and ReadAllPages' default page size
MAX_PAGE = 5000
MAX_POSITION = 2**63 - 1  # positions are PostgreSQL bigints

Context = grpc.aio.ServicerContext[Any, Any]
PageStream = AsyncIterator[pb.SessionEventPage]


def parse_id(raw: str, what: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise InvalidMessage(f"{what} must be a UUID, got {quoted(raw)}") from None


def _quoted_id(raw: str) -> str:
    """A request's `quoted_message_id` as the domain names messages ("" for none)."""
    return str(parse_id(raw, "quoted_message_id")) if raw else ""


def check_payload(content: common_pb.MessageContent) -> None:
    """A message type's object, when given, is what outbound will send: a JSON object (a
    list for `contacts`), not too deep, with finite numbers and clean strings."""
    if not content.payload_json:
        return
    value = json_value(content.payload_json, "content.payload_json")
    expected = list if content.type == "contacts" else dict
    if not isinstance(value, expected) or not value:
        shape = "array" if expected is list else "object"
        raise InvalidMessage(f"content.payload_json must be a non-empty JSON {shape}")


def tester_name(raw: str) -> str:
    """A tester's name as their synthetic contact is known by (`threadline.rules.testchat`)."""
    name = raw.strip()
    if not name:
        raise InvalidMessage("tester is required: the name the test chat is held under")
    return name


def tester_content(request: pb.SendTestMessageRequest) -> dict[str, str]:
    """A tester's text, or their tap on an option, as ingest reads a customer's from WhatsApp
    (the content object as `payload_json`, the readable text beside it)."""
    if request.text.strip() and not (request.reply_id or request.reply_title):
        return {
            "type": "text",
            "text": request.text,
            "payload_json": compact_json({"body": request.text}),
        }
    if request.reply_id and request.reply_title.strip() and not request.text:
        tap = {"id": request.reply_id, "title": request.reply_title}
        return {
            "type": "interactive",
            "text": request.reply_title,
            "payload_json": compact_json({"type": "button_reply", "button_reply": tap}),
        }
    raise InvalidMessage("give a text, or a reply_id with its reply_title (a tap), not both")


def compact_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def template_pb(template: Template) -> pb.Template:
    return pb.Template(
        name=template.name,
        language=template.language,
        category=template.category,
        body=template.body,
        parameter_count=template.parameter_count,
    )


def assistant_pb(found: AssistantView) -> pb.Assistant:
    settings = found.settings
    return pb.Assistant(
        name=settings.name,
        model=settings.model,
        system_prompt=settings.system_prompt,
        language=settings.language,
        reply_delay_seconds=settings.reply_delay_seconds,
        max_context_tokens=settings.max_context_tokens,
        tools=settings.tools,
        business_numbers=settings.business_numbers,
        version=found.version,
        http_tools_json=settings.http_tools_json,
        knowledge_bases=settings.knowledge_bases,
        collect_fields_json=settings.collect_fields_json,
    )


def flow_pb(found: FlowView) -> pb.Flow:
    settings = found.settings
    return pb.Flow(
        id=settings.id,
        name=settings.name,
        definition_version=settings.definition_version,
        version=found.version,
        trigger_kinds=settings.trigger_kinds,
        business_numbers=settings.business_numbers,
        definition_json=settings.definition_json,
    )


def assistant_settings(request: pb.ConfigureAssistantRequest) -> AssistantSettings:
    given = request.assistant
    return AssistantSettings.validated(
        name=given.name,
        model=given.model,
        system_prompt=given.system_prompt,
        language=given.language,
        reply_delay_seconds=given.reply_delay_seconds if request.reply_delay_set else None,
        max_context_tokens=given.max_context_tokens,
        tools=tuple(given.tools),
        business_numbers=tuple(given.business_numbers),
        http_tools_json=given.http_tools_json,
        knowledge_bases=tuple(given.knowledge_bases),
        collect_fields_json=given.collect_fields_json,
    )


class SessionCommandsServicer(WebhookCommands, pb_grpc.SessionCommandsServicer):
    def __init__(self, writer: EventStoreWriter, media_store: MediaStore | None = None) -> None:
        self._writer, self._app = writer, writer.app
        self._media_store = media_store  # where operators' files are kept (SendFiles)

    async def _conversation_for(self, raw_id: str, role: str) -> UUID:
        """The conversation's id, when the caller may act on it. Any other id is not found,
        alike: another tenant's conversation, another aggregate's id, an unknown one."""
        current_principal().require_role(role)
        conversation_id = parse_id(raw_id, "conversation_id")
        # On the writer thread: it changes cached aggregates in place.
        number = await self._writer.run(self._app.business_number_of, conversation_id)
        if not current_principal().can_see(number):
            raise ConversationNotFound(conversation_id)
        return conversation_id

    def _number(self, phone_number_id: str, role: str) -> str:
        current_principal().require_role(role)
        if not phone_number_id:
            raise InvalidMessage("phone_number_id is required")
        if not current_principal().can_see(phone_number_id):
            raise PermissionDenied(f"this token is not scoped to number {quoted(phone_number_id)}")
        return phone_number_id

    async def SendMessage(
        self, request: pb.SendMessageRequest, context: Context
    ) -> pb.SendMessageResponse:
        if not request.idempotency_key:
            raise InvalidMessage("idempotency_key is required, so a retried call is a no-op")
        check_payload(request.content)
        conversation_id = None
        if request.conversation_id:
            conversation_id = await self._conversation_for(request.conversation_id, "write")
        else:
            self._number(request.phone_number_id, "write")
        conversation, message = await self._writer.run(
            self._app.send_message,
            OutboundRequest(
                content=content(request.content),
                idempotency_key=request.idempotency_key,
                conversation_id=conversation_id,
                phone_number_id=request.phone_number_id,
                customer_wa_id=request.customer_wa_id,
                author=request.author or "agent",
                quoted_message_id=(
                    str(parse_id(request.quoted_message_id, "quoted_message_id"))
                    if request.quoted_message_id
                    else ""
                ),
                trace=current_traceparent(),
            ),
        )
        return pb.SendMessageResponse(message_id=str(message), conversation_id=str(conversation))

    async def SendTestMessage(
        self, request: pb.SendTestMessageRequest, context: Context
    ) -> pb.SendTestMessageResponse:
        number = self._number(request.phone_number_id, "write")
        if not request.idempotency_key:
            raise InvalidMessage("idempotency_key is required, so a retried call is a no-op")
        conversation, message = await self._writer.run(
            self._app.send_test_message,
            MessageFromTester(
                phone_number_id=number,
                tester=tester_name(request.tester),
                content=tester_content(request),
                idempotency_key=request.idempotency_key,
            ),
        )
        return pb.SendTestMessageResponse(
            conversation_id=str(conversation), message_id=str(message)
        )

    async def SendFiles(
        self, requests: AsyncIterator[pb.SendFilesRequest], context: Context
    ) -> pb.SendFilesResponse:
        """An operator's files, then the text: authorised and checked against the window like
        `SendMessage`; every file checked against WhatsApp's limits while the stream is read
        (`file_stream`), and only then kept in the media store and queued. A refused call's
        rest is read first, so the client hears the refusal (`drain`)."""
        try:
            return await self._send_files(requests)
        except Exception:
            await drain(requests)
            raise

    async def _send_files(
        self, requests: AsyncIterator[pb.SendFilesRequest]
    ) -> pb.SendFilesResponse:
        header = await header_of(requests)
        if not header.idempotency_key:
            raise InvalidMessage("idempotency_key is required, so a retried call is a no-op")
        author = header.author or "agent"
        conversation_id = None
        # Everything that can refuse the call is asked before a file is kept; the caller's
        # access first, so another tenant's conversation is not found whatever else is sent.
        if header.conversation_id:
            conversation_id = await self._conversation_for(header.conversation_id, "write")
            quoted_message_id = _quoted_id(header.quoted_message_id)
            await self._writer.run(
                functools.partial(
                    self._app.check_files_sendable,
                    conversation_id,
                    author,
                    text=header.text,
                    quoted_message_id=quoted_message_id,
                )
            )
        else:
            self._number(header.phone_number_id, "write")
            if not header.customer_wa_id:
                raise InvalidMessage("give a conversation_id, or a phone_number_id and customer")
            quoted_message_id = _quoted_id(header.quoted_message_id)
        if self._media_store is None:
            raise DomainError("this session keeps no files: it has no media store")
        received = await files_of(requests)
        kept = [await keep_file(self._media_store, checked, data) for checked, data in received]
        conversation, message_ids = await self._writer.run(
            self._app.send_files,
            FilesRequest(
                files=tuple(kept),
                text=header.text,
                idempotency_key=header.idempotency_key,
                conversation_id=conversation_id,
                phone_number_id=header.phone_number_id,
                customer_wa_id=header.customer_wa_id,
                author=author,
                quoted_message_id=quoted_message_id,
                trace=current_traceparent(),
            ),
        )
        return pb.SendFilesResponse(
            conversation_id=str(conversation), message_ids=[str(m) for m in message_ids]
        )

    async def UpdateConversationStatus(
        self, request: pb.UpdateConversationStatusRequest, context: Context
    ) -> pb.ConversationStatusResponse:
        conversation_id = await self._conversation_for(request.conversation_id, "write")
        status = await self._writer.run(
            lambda: self._app.change_status(
                conversation_id, request.status, reason=request.reason, by="agent"
            )
        )
        return pb.ConversationStatusResponse(conversation_id=str(conversation_id), status=status)

    async def HandOff(
        self, request: pb.HandOffRequest, context: Context
    ) -> pb.ConversationStatusResponse:
        conversation_id = await self._conversation_for(request.conversation_id, "write")
        status = await self._writer.run(
            lambda: self._app.hand_off(conversation_id, reason=request.reason, by="agent")
        )
        return pb.ConversationStatusResponse(conversation_id=str(conversation_id), status=status)

    async def ResumeAutopilot(
        self, request: pb.ResumeAutopilotRequest, context: Context
    ) -> pb.ConversationStatusResponse:
        conversation_id = await self._conversation_for(request.conversation_id, "write")
        status = await self._writer.run(
            lambda: self._app.resume_autopilot(conversation_id, by="agent")
        )
        return pb.ConversationStatusResponse(conversation_id=str(conversation_id), status=status)

    async def SetAutopilot(
        self, request: pb.SetAutopilotRequest, context: Context
    ) -> pb.SetAutopilotResponse:
        number = self._number(request.phone_number_id, "admin")
        await self._writer.run(self._app.set_autopilot, number, request.enabled)
        return pb.SetAutopilotResponse(phone_number_id=number, enabled=request.enabled)

    async def SetAutoResolution(
        self, request: pb.SetAutoResolutionRequest, context: Context
    ) -> pb.SetAutoResolutionResponse:
        number = self._number(request.phone_number_id, "admin")
        await self._writer.run(self._app.set_auto_resolution, number, request.hours)
        return pb.SetAutoResolutionResponse(phone_number_id=number, hours=request.hours)

    async def RegisterTemplate(
        self, request: pb.RegisterTemplateRequest, context: Context
    ) -> pb.Template:
        number = self._number(request.phone_number_id, "admin")
        template = await self._writer.run(
            lambda: self._app.register_template(
                number,
                name=request.name,
                language=request.language,
                category=request.category,
                body=request.body,
            )
        )
        return template_pb(template)

    async def ListTemplates(
        self, request: pb.ListTemplatesRequest, context: Context
    ) -> pb.ListTemplatesResponse:
        number = self._number(request.phone_number_id, "read")
        templates = await self._writer.run(self._app.templates, number)
        return pb.ListTemplatesResponse(templates=[template_pb(t) for t in templates])

    async def ConfigureAssistant(
        self, request: pb.ConfigureAssistantRequest, context: Context
    ) -> pb.ConfigureAssistantResponse:
        principal = current_principal()
        principal.require_role("admin")
        settings = assistant_settings(request)
        outcome = await self._writer.run(self._app.configure_assistant, settings, principal.can_see)
        return pb.ConfigureAssistantResponse(
            assistant=assistant_pb(outcome.assistant),
            created=outcome.created,
            changed=outcome.changed,
        )

    async def ListAssistants(
        self, request: pb.ListAssistantsRequest, context: Context
    ) -> pb.ListAssistantsResponse:
        numbers = current_principal().visible_numbers()
        if request.phone_number_id:
            numbers = frozenset({self._number(request.phone_number_id, "read")})
        else:
            current_principal().require_role("read")
        found = await self._writer.run(self._app.assistants, numbers)
        return pb.ListAssistantsResponse(assistants=[assistant_pb(a) for a in found])

    async def ConfigureFlow(
        self, request: pb.ConfigureFlowRequest, context: Context
    ) -> pb.ConfigureFlowResponse:
        principal = current_principal()
        principal.require_role("admin")
        settings = FlowSettings.from_text(request.definition)
        every = principal.visible_numbers() is None
        outcome = await self._writer.run(
            self._app.configure_flow, settings, principal.can_see, every
        )
        return pb.ConfigureFlowResponse(
            flow=flow_pb(outcome.flow), created=outcome.created, changed=outcome.changed
        )

    async def ListFlows(
        self, request: pb.ListFlowsRequest, context: Context
    ) -> pb.ListFlowsResponse:
        numbers = current_principal().visible_numbers()
        if request.phone_number_id:
            numbers = frozenset({self._number(request.phone_number_id, "read")})
        else:
            current_principal().require_role("read")
        found = await self._writer.run(self._app.flows, numbers)
        return pb.ListFlowsResponse(flows=[flow_pb(f) for f in found])

    async def IssueApiToken(
        self, request: pb.IssueApiTokenRequest, context: Context
    ) -> pb.IssueApiTokenResponse:
        issuer = current_principal()
        issuer.require_role("admin")
        scope = ApiTokenScope.validated(request.roles, request.numbers)
        issued = await self._writer.run(self._app.issue_api_token, request.name, scope, issuer)
        return pb.IssueApiTokenResponse(token=api_token_pb(issued.token), secret=issued.secret)

    async def ListApiTokens(
        self, request: pb.ListApiTokensRequest, context: Context
    ) -> pb.ListApiTokensResponse:
        caller = current_principal()
        caller.require_role("admin")
        found = await self._writer.run(self._app.api_tokens, caller, request.include_revoked)
        return pb.ListApiTokensResponse(tokens=[api_token_pb(t) for t in found])

    async def RevokeApiToken(
        self, request: pb.RevokeApiTokenRequest, context: Context
    ) -> pb.RevokeApiTokenResponse:
        revoker = current_principal()
        revoker.require_role("admin")
        outcome = await self._writer.run(self._app.revoke_api_token, request.token_id, revoker)
        return pb.RevokeApiTokenResponse(token=api_token_pb(outcome.token), changed=outcome.changed)


class EventLogServicer(pb_grpc.EventLogServicer):
    def __init__(self, app: Conversations) -> None:
        self._records = StoredRecords(app.recorder)
        self._events = SessionEvents(app.mapper)

    def _read_page(self, after: int, size: int) -> pb.SessionEventPage:
        """Decoded on the worker thread too: the event loop only sends."""
        page = pb.SessionEventPage()
        add = page.events.add
        records = self._records.after(after, size)
        for record in records:
            self._events.decode_into(record, add())
        # Saves a reader the search of every string for NUL (a NUL byte in a page is mostly
        # an empty message or a double's byte).
        page.nul_free = self._events.nul_free(records)
        return page

    def _read_stream(self, stream_id: UUID) -> list[events_pb.SessionEvent]:
        return [self._events.decode(record) for record in self._records.of_stream(stream_id)]

    async def _pages(self, from_position: int, limit: int, size: int) -> PageStream:
        """Consecutive pages of the log from a position, every one full but the last.
        (Reading the next page while one is sent measured no faster: decoding holds the GIL.)"""
        after, left = max(from_position, 1) - 1, limit or None
        while left is None or left > 0:
            wanted = size if left is None else min(size, left)
            page = await asyncio.to_thread(self._read_page, after, wanted)
            events = page.events
            if events:
                yield page
            if len(events) < wanted:
                return
            after = events[-1].position
            left = None if left is None else left - len(events)

    def _require_whole_log(self) -> None:
        principal = current_principal()
        principal.require_role("read")
        if principal.numbers is not None:
            raise PermissionDenied("reading the whole log needs a token for every number")

    async def ReadAll(
        self, request: pb.ReadAllRequest, context: Context
    ) -> AsyncIterator[events_pb.SessionEvent]:
        self._require_whole_log()
        if request.from_position > MAX_POSITION:
            raise InvalidRequest(f"from_position may be at most {MAX_POSITION}")
        async for page in self._pages(request.from_position, request.limit, PAGE):
            for event in page.events:
                yield event

    async def ReadAllPages(
        self, request: pb.ReadAllPagesRequest, context: Context
    ) -> AsyncIterator[pb.SessionEventPage]:
        self._require_whole_log()
        if request.from_position > MAX_POSITION:
            raise InvalidRequest(f"from_position may be at most {MAX_POSITION}")
        size = request.page_size or PAGE
        if size > MAX_PAGE:
            raise InvalidRequest(f"page_size may be at most {MAX_PAGE}, got {size}")
        async for page in self._pages(request.from_position, request.limit, size):
            yield page

    async def ReadStream(
        self, request: pb.ReadStreamRequest, context: Context
    ) -> AsyncIterator[events_pb.SessionEvent]:
        current_principal().require_role("read")
        stream_id = parse_id(request.stream_id, "stream_id")
        events = await asyncio.to_thread(self._read_stream, stream_id)
        if not events:
            raise StreamNotFound(stream_id)
        # Every aggregate's first event names its business number.
        body = events[0].WhichOneof("body") or ""
        number = getattr(getattr(events[0], body, None), "phone_number_id", "")
        if not current_principal().can_see(number):
            raise StreamNotFound(stream_id)
        for event in events:
            yield event
