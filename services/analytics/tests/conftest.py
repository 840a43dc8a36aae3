"""Factories of session events, and the analytics service running on real NATS and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import grpc
import nats
import psycopg
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from nats.aio.client import Client as Nats
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from psycopg_pool import AsyncConnectionPool

from threadline.analytics.adapters.outbound.read_models.database import open_pool
from threadline.analytics.adapters.outbound.read_models.schema import migrate
from threadline.analytics.bootstrap import RunningAnalytics as Service
from threadline.analytics.bootstrap import bootstrap
from threadline.analytics.config import AnalyticsConfig
from threadline.analytics.domain.write.projection import PROJECTION
from threadline.analytics.domain.write.rates import EXAMPLE_RATES, Rates
from threadline.contracts.analytics.v1 import analytics_pb2_grpc
from threadline.contracts.events.v1 import common_pb2
from threadline.contracts.events.v1 import session_pb2 as ev
from threadline.messaging.bus import JetStreamBus
from threadline.messaging.relay import POSITION
from threadline.messaging.topology import DEAD_LETTERS, Topology
from threadline.servicekit.auth import TokenRegistry, hash_token
from threadline.testing import eventually
from threadline.testing.clock import FakeClock

BUSINESS_NUMBER = "pn-analytics-1"
OTHER_NUMBER = "pn-analytics-2"
READER_TOKEN = "reader-of-every-number"
TENANT_TOKEN = "reader-of-the-other-number"
WRITER_TOKEN = "writer-without-read"

_SUBJECTS = {
    "contact_registered": "Contact.Registered",
    "contact_identity_linked": "Contact.IdentityLinked",
    "contact_profile_name_changed": "Contact.ProfileNameChanged",
    "contact_key_claimed": "ContactKey.Claimed",
    "contact_data_collected": "Contact.DataCollected",
    "business_number_registered": "BusinessNumber.Registered",
    "autopilot_set": "BusinessNumber.AutopilotSet",
    "auto_resolution_set": "BusinessNumber.AutoResolutionSet",
    "template_registered": "BusinessNumber.TemplateRegistered",
    "conversation_started": "Conversation.Started",
    "customer_message_received": "Conversation.CustomerMessageReceived",
    "customer_message_changed": "Conversation.CustomerMessageChanged",
    "outbound_message_queued": "Conversation.OutboundMessageQueued",
    "outbound_message_dispatched": "Conversation.OutboundMessageDispatched",
    "message_status_changed": "Conversation.MessageStatusChanged",
    "late_status_recorded": "Conversation.LateStatusRecorded",
    "outbound_message_dispatch_failed": "Conversation.OutboundMessageDispatchFailed",
    "conversation_status_changed": "Conversation.StatusChanged",
    "flow_step_reached": "Conversation.FlowStepReached",
    "assistant_generation_discarded": "Conversation.AssistantGenerationDiscarded",
    "attachment_stored": "Conversation.AttachmentStored",
    "attachment_failed": "Conversation.AttachmentFailed",
    "transcript_recorded": "Conversation.TranscriptRecorded",
    "transcript_missing": "Conversation.TranscriptMissing",
    "tool_call_recorded": "Conversation.ToolCallRecorded",
    "conversation_data_collected": "Conversation.DataCollected",
}


def subject_of(event: ev.SessionEvent) -> str:
    """`session.events.<Aggregate>.<Event>`, as the relay publishes the event."""
    return f"session.events.{_SUBJECTS[event.WhichOneof('body') or '']}"


class EventLog:
    """Builds events as the session stores them: positions increase and time moves on."""

    def __init__(self, *, business_number: str = BUSINESS_NUMBER) -> None:
        self.business_number = business_number
        self.position = 0
        self.now = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)

    def contact(
        self, contact_id: UUID, *, wa_id: str = "15550001111", user_id: str = "", number: str = ""
    ) -> ev.SessionEvent:
        customer = common_pb2.CustomerIdentity(wa_id=wa_id, user_id=user_id, profile_name="Ana")
        body = ev.ContactRegistered(
            phone_number_id=number or self.business_number, customer=customer
        )
        return self._event("Contact", contact_id, contact_registered=body)

    def conversation(
        self,
        conversation_id: UUID,
        contact_id: UUID,
        *,
        wa_id: str = "15550001111",
        user_id: str = "",
        number: str = "",
        opened_by: str = "customer",
        category: str = "SERVICE",
    ) -> ev.SessionEvent:
        body = ev.ConversationStarted(
            contact_id=str(contact_id),
            phone_number_id=number or self.business_number,
            session_key=f"{number or self.business_number}:{wa_id}",
            channel="whatsapp",
            customer=common_pb2.CustomerIdentity(wa_id=wa_id, user_id=user_id, profile_name="Ana"),
            opened_by=opened_by,
            category=category,
        )
        return self._event("Conversation", conversation_id, conversation_started=body)

    def inbound(
        self,
        conversation_id: UUID,
        message_id: str,
        *,
        text: str = "hello",
        metadata: str = "",
        kind: str = "text",
        free_entry: bool = False,
        sent_at: datetime | None = None,
    ) -> ev.SessionEvent:
        body = ev.CustomerMessageReceived(
            message_id=message_id,
            wamid=f"wamid.in.{message_id}",
            content=common_pb2.MessageContent(type=kind, text=text),
            metadata_json=metadata,
            free_entry=free_entry,
        )
        if sent_at is not None:
            body.sent_at.CopyFrom(stamp(sent_at))
        return self._event("Conversation", conversation_id, customer_message_received=body)

    def changed(
        self, conversation_id: UUID, message_id: str, *, kind: str, target: str, text: str = ""
    ) -> ev.SessionEvent:
        """An edit, revoke or reaction by the customer; `target` "" when it names no known
        message."""
        body = ev.CustomerMessageChanged(
            message_id=message_id,
            wamid=f"wamid.in.{message_id}",
            kind=kind,
            target_wamid=f"wamid.in.{target or 'unknown'}",
            target_message_id=target,
            content=common_pb2.MessageContent(type=kind, text=text),
        )
        return self._event("Conversation", conversation_id, customer_message_changed=body)

    def queued(
        self,
        conversation_id: UUID,
        message_id: str,
        *,
        text: str = "hi, how can I help?",
        author: str = "ai",
        model: str = "",
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        **usage: Any,
    ) -> ev.SessionEvent:
        """`usage`: what issue 10 item 8 added (cached_tokens, latency_ms, assistant,
        assistant_version, cost, covered_message_ids)."""
        body = ev.OutboundMessageQueued(
            message_id=message_id,
            author=author,
            content=common_pb2.MessageContent(type="text", text=text),
            phone_number_id=self.business_number,
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            **usage,
        )
        return self._event("Conversation", conversation_id, outbound_message_queued=body)

    def discarded(self, conversation_id: UUID, generation_id: str, **usage: Any) -> ev.SessionEvent:
        """A generation the assistant dropped unsent; `usage` as the body's fields."""
        body = ev.AssistantGenerationDiscarded(generation_id=generation_id, **usage)
        return self._event("Conversation", conversation_id, assistant_generation_discarded=body)

    def dispatched(self, conversation_id: UUID, message_id: str, wamid: str) -> ev.SessionEvent:
        body = ev.OutboundMessageDispatched(message_id=message_id, wamid=wamid)
        return self._event("Conversation", conversation_id, outbound_message_dispatched=body)

    def status(
        self,
        conversation_id: UUID,
        message_id: str,
        status: str,
        *,
        pricing: common_pb2.Pricing | None = None,
        late: bool = False,
    ) -> ev.SessionEvent:
        """A status webhook as the session records it: a forward move, or a `late` one."""
        fields: dict[str, Any] = {"message_id": message_id, "status": status}
        if pricing is not None:
            fields["pricing"] = pricing
        if late:
            late_body = ev.LateStatusRecorded(**fields, reported_at=stamp(self.now))
            return self._event("Conversation", conversation_id, late_status_recorded=late_body)
        body = ev.MessageStatusChanged(**fields, reported_at=stamp(self.now))
        return self._event("Conversation", conversation_id, message_status_changed=body)

    def failed(self, conversation_id: UUID, message_id: str, *, code: int) -> ev.SessionEvent:
        error = common_pb2.WhatsAppError(code=code, title="Re-engagement message")
        body = ev.OutboundMessageDispatchFailed(message_id=message_id, error=error)
        return self._event("Conversation", conversation_id, outbound_message_dispatch_failed=body)

    def status_changed(
        self,
        conversation_id: UUID,
        status: str,
        *,
        ai_paused: bool = False,
        reason: str = "",
        by: str = "agent",
    ) -> ev.SessionEvent:
        body = ev.ConversationStatusChanged(
            status=status, reason=reason, changed_by=by, ai_paused=ai_paused
        )
        return self._event("Conversation", conversation_id, conversation_status_changed=body)

    def flow_step(
        self,
        conversation_id: UUID,
        flow_id: str,
        step_id: str,
        *,
        completed: bool = False,
        data: dict[str, Any] | None = None,
        expires_at: datetime | None = None,
        status: str = "",
        flow_version: int = 0,
    ) -> ev.SessionEvent:
        """A step as the session records it; without `status` and `expires_at` as before
        issue 12."""
        body = ev.ConversationFlowStepReached(
            flow_id=flow_id,
            step_id=step_id,
            completed=completed,
            session_data_json=json.dumps(data or {}),
            status=status,
            flow_version=flow_version,
        )
        if expires_at is not None:
            body.expires_at.CopyFrom(stamp(expires_at))
        return self._event("Conversation", conversation_id, flow_step_reached=body)

    def data_collected(
        self, contact_id: UUID, conversation_id: UUID, fields: dict[str, Any]
    ) -> ev.SessionEvent:
        """Fields a flow collected, kept on the contact (issue 12): only the changed ones."""
        body = ev.ContactDataCollected(
            conversation_id=str(conversation_id), fields_json=json.dumps(fields)
        )
        return self._event("Contact", contact_id, contact_data_collected=body)

    def conversation_data_collected(
        self, conversation_id: UUID, fields: dict[str, Any]
    ) -> ev.SessionEvent:
        """Values the assistant's collect tool saved (issue 12 item 2): only the changed ones."""
        body = ev.ConversationDataCollected(fields_json=json.dumps(fields))
        return self._event("Conversation", conversation_id, conversation_data_collected=body)

    def identity_linked(
        self, contact_id: UUID, *, wa_id: str = "", user_id: str = ""
    ) -> ev.SessionEvent:
        body = ev.ContactIdentityLinked(wa_id=wa_id, user_id=user_id)
        return self._event("Contact", contact_id, contact_identity_linked=body)

    def renamed(self, contact_id: UUID, name: str) -> ev.SessionEvent:
        body = ev.ContactProfileNameChanged(profile_name=name)
        return self._event("Contact", contact_id, contact_profile_name_changed=body)

    def key_claimed(self, contact_id: UUID, key: str, *, number: str = "") -> ev.SessionEvent:
        body = ev.ContactKeyClaimed(
            phone_number_id=number or self.business_number, key=key, contact_id=str(contact_id)
        )
        return self._event("ContactKey", uuid4(), contact_key_claimed=body)

    def number(self, number_id: UUID, *, number: str = "") -> ev.SessionEvent:
        body = ev.BusinessNumberRegistered(phone_number_id=number or self.business_number)
        return self._event("BusinessNumber", number_id, business_number_registered=body)

    def autopilot(self, number_id: UUID, *, enabled: bool) -> ev.SessionEvent:
        body = ev.AutopilotSet(enabled=enabled)
        return self._event("BusinessNumber", number_id, autopilot_set=body)

    def auto_resolution(self, number_id: UUID, *, hours: int) -> ev.SessionEvent:
        body = ev.AutoResolutionSet(hours=hours)
        return self._event("BusinessNumber", number_id, auto_resolution_set=body)

    def template(
        self,
        number_id: UUID,
        name: str,
        *,
        language: str = "en_US",
        category: str = "UTILITY",
        body: str = "Your order {{1}} has shipped",
        parameter_count: int = 1,
    ) -> ev.SessionEvent:
        registered = ev.TemplateRegistered(
            name=name,
            language=language,
            category=category,
            body=body,
            parameter_count=parameter_count,
        )
        return self._event("BusinessNumber", number_id, template_registered=registered)

    def attachment_stored(
        self,
        conversation_id: UUID,
        message_id: str,
        *,
        media_type: str = "image",
        content_type: str = "image/jpeg",
        size: int = 2048,
        file_name: str = "",
        caption: str = "",
        voice: bool = False,
    ) -> ev.SessionEvent:
        """The media of `message_id` kept in the store (its location derived from the id)."""
        body = ev.AttachmentStored(
            message_id=message_id,
            media_id=f"media-{message_id}",
            media_type=media_type,
            content_type=content_type,
            size=size,
            sha256=hashlib.sha256(message_id.encode()).hexdigest(),
            file_name=file_name,
            caption=caption,
            voice=voice,
            location=f"media/{message_id}",
        )
        return self._event("Conversation", conversation_id, attachment_stored=body)

    def attachment_failed(
        self,
        conversation_id: UUID,
        message_id: str,
        *,
        media_type: str = "video",
        reason: str = "download failed: 404",
        refused: bool = False,
    ) -> ev.SessionEvent:
        body = ev.AttachmentFailed(
            message_id=message_id,
            media_id=f"media-{message_id}",
            media_type=media_type,
            reason=reason,
            refused=refused,
        )
        return self._event("Conversation", conversation_id, attachment_failed=body)

    def transcript_recorded(
        self,
        conversation_id: UUID,
        message_id: str,
        *,
        text: str = "Hello, do you deliver on Sundays?",
        language: str = "en",
        model: str = "whisper-1",
        duration_seconds: float = 3.5,
    ) -> ev.SessionEvent:
        body = ev.TranscriptRecorded(
            message_id=message_id,
            text=text,
            language=language,
            model=model,
            duration_seconds=duration_seconds,
        )
        return self._event("Conversation", conversation_id, transcript_recorded=body)

    def transcript_missing(
        self,
        conversation_id: UUID,
        message_id: str,
        *,
        reason: str = "transcription failed: HTTP 503",
        model: str = "whisper-1",
    ) -> ev.SessionEvent:
        body = ev.TranscriptMissing(message_id=message_id, reason=reason, model=model)
        return self._event("Conversation", conversation_id, transcript_missing=body)

    def tool_call(
        self,
        conversation_id: UUID,
        call_id: str,
        *,
        tool: str = "check_availability",
        arguments_json: str = '{"day":"2026-06-02"}',
        status: str = "ok",
        http_status: int = 200,
        **fields: Any,
    ) -> ev.SessionEvent:
        """A call of a business's HTTP tool as the session records it (issue 12); `fields`:
        generation_id, result_json, latency_ms, mutating, replayed."""
        body = ev.ToolCallRecorded(
            call_id=call_id,
            tool=tool,
            arguments_json=arguments_json,
            status=status,
            http_status=http_status,
            **fields,
        )
        return self._event("Conversation", conversation_id, tool_call_recorded=body)

    def wait(self, delta: timedelta) -> None:
        """Let time pass before the next event."""
        self.now += delta

    def _event(self, aggregate: str, aggregate_id: UUID, **body: Any) -> ev.SessionEvent:
        self.position += 1
        self.now += timedelta(seconds=1)
        return ev.SessionEvent(
            event_id=str(uuid4()),
            position=self.position,
            aggregate_type=aggregate,
            aggregate_id=str(aggregate_id),
            aggregate_version=1,
            occurred_at=stamp(self.now),
            **body,
        )


def stamp(moment: datetime) -> Timestamp:
    stamped = Timestamp()
    stamped.FromDatetime(moment)
    return stamped


@pytest.fixture
def log() -> EventLog:
    return EventLog()


Metadata = tuple[tuple[str, str], ...]


@dataclass
class RunningAnalytics:
    """The service under test, with a way to publish like the relay and to call it."""

    service: Service
    client: Nats
    topology: Topology
    database_url: str
    channel: grpc.aio.Channel
    business_number: str = BUSINESS_NUMBER
    other_number: str = OTHER_NUMBER
    reader: Metadata = (("authorization", f"Bearer {READER_TOKEN}"),)
    tenant: Metadata = (("authorization", f"Bearer {TENANT_TOKEN}"),)
    writer: Metadata = (("authorization", f"Bearer {WRITER_TOKEN}"),)

    @property
    def queries(self) -> analytics_pb2_grpc.ConversationQueriesAsyncStub:
        return analytics_pb2_grpc.ConversationQueriesStub(self.channel)

    async def publish(self, *events: ev.SessionEvent) -> None:
        for event in events:
            await self.publish_again(event, msg_id=event.event_id)

    async def publish_again(self, event: ev.SessionEvent, *, msg_id: str) -> None:
        await self.publish_raw(
            subject_of(event),
            event.SerializeToString(),
            msg_id=msg_id,
            position=event.position,
        )

    async def publish_raw(self, subject: str, data: bytes, *, msg_id: str, position: int) -> None:
        bus = JetStreamBus(self.client.jetstream())
        headers = {POSITION: str(position)}
        await bus.publish(self.topology.subject(subject), data, msg_id=msg_id, headers=headers)

    async def projected(self, position: int) -> None:
        """Wait until the projection has committed `position`."""

        async def reached() -> bool:
            async with await psycopg.AsyncConnection.connect(self.database_url) as connection:
                cursor = await connection.execute(
                    "SELECT position FROM analytics.projection_positions WHERE name = %s",
                    (PROJECTION,),
                )
                row = await cursor.fetchone()
            return row is not None and row[0] >= position

        await eventually(reached, timeout=15)

    async def dead_letters(self, *, count: int) -> list[Msg]:
        """What the service moved to DEAD_LETTERS, once there are `count` of them."""
        found: list[Msg] = []

        async def arrived() -> bool:
            found[:] = await self._dead_letters()
            return len(found) >= count

        await eventually(arrived, timeout=10)
        return found

    async def _dead_letters(self) -> list[Msg]:
        js = self.client.jetstream()
        subscription = await js.pull_subscribe(
            self.topology.subject("dlq.>"), stream=self.topology.stream(DEAD_LETTERS)
        )
        try:
            return list(await subscription.fetch(10, timeout=1))
        except (TimeoutError, NatsTimeoutError):
            return []
        finally:
            await subscription.unsubscribe()


def tokens() -> TokenRegistry:
    return TokenRegistry.parse(
        f"{hash_token(READER_TOKEN)}:read:*;"
        f"{hash_token(TENANT_TOKEN)}:read:{OTHER_NUMBER};"
        f"{hash_token(WRITER_TOKEN)}:write:*"
    )


@pytest.fixture
def clock(log: EventLog) -> FakeClock:
    """The service's clock, at the event log's time until a test moves it."""
    return FakeClock(log.now)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    """A pool on a migrated database, for tests of the projection's writes."""
    pool = await open_pool(database_url)
    async with pool.connection() as connection:
        await migrate(connection)
    yield pool
    await pool.close()


@pytest.fixture
def rates() -> Rates:
    """What the service under test charges; a test module may override this fixture."""
    return EXAMPLE_RATES


@pytest.fixture
async def analytics(
    nats_server_url: str,
    nats_namespace: str,
    database_url: str,
    clock: FakeClock,
    rates: Rates,
) -> AsyncIterator[RunningAnalytics]:
    config = AnalyticsConfig(
        nats_url=nats_server_url,
        nats_namespace=nats_namespace,
        database_url=database_url,
        tokens=tokens(),
        grpc_port=0,
        ops_port=0,
        batch_size=50,
        rates=rates,
    )
    async with AsyncExitStack() as stack:
        service = await bootstrap(config, stack, clock=clock)
        client = await nats.connect(nats_server_url)
        stack.push_async_callback(client.drain)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}")
        stack.push_async_callback(channel.close)
        yield RunningAnalytics(service, client, Topology(nats_namespace), database_url, channel)
