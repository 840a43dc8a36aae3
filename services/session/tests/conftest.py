"""Test helpers: the application on eventsourcing's in-memory persistence (unit tests), on
PostgreSQL and as the whole service (integration tests: their fixtures name `database_url` or
`nats_server_url`), and a history with every kind of stored event."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from uuid import uuid4

import nats
import pytest
from nats.js import JetStreamContext

from threadline.contracts.events.v1 import session_pb2 as pb
from threadline.servicekit.auth import Principal
from threadline.servicekit.clock import Clock, utc_now
from threadline.session.application.conversations import Conversations
from threadline.session.application.facts import InboundMessage
from threadline.session.config import SessionConfig
from threadline.session.domain.api_token import ApiToken, ApiTokenScope
from threadline.session.domain.assistant import Assistant, AssistantSettings
from threadline.session.domain.business_number import BusinessNumber
from threadline.session.domain.contact import Contact, ContactKey
from threadline.session.domain.conversation import Conversation
from threadline.session.domain.flow import Flow, FlowSettings
from threadline.session.domain.operator_files import OutgoingMedia, ReplyPlace
from threadline.session.domain.webhook_subscription import WebhookSettings, WebhookSubscription
from threadline.testing.clock import FakeClock

TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(clock: FakeClock) -> Conversations:
    return Conversations({"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=clock)


InboundFactory = Callable[..., InboundMessage]
ConfigFactory = Callable[..., SessionConfig]
AppFactory = Callable[..., Conversations]


@pytest.fixture
def session_config(nats_server_url: str, database_url: str, nats_namespace: str) -> ConfigFactory:
    """The service's settings for this test's NATS namespace and database; any field can be
    given (gRPC and ops on free ports unless given)."""

    def make(**settings: object) -> SessionConfig:
        defaults: dict[str, object] = {
            "nats_url": nats_server_url,
            "nats_namespace": nats_namespace,
            "database_url": database_url,
            "api_tokens": "",
            "grpc_port": 0,
            "ops_port": 0,
        }
        return SessionConfig(**(defaults | settings))  # type: ignore[arg-type]

    return make


@pytest.fixture
def service_clock() -> FakeClock:
    """The running service's clock, from now (NATS and PostgreSQL stamp real times)."""
    return FakeClock(datetime.now(UTC))


@pytest.fixture
async def js(nats_server_url: str) -> AsyncIterator[JetStreamContext]:
    """JetStream, as the services around the session use it (publishing facts, reading events)."""
    connection = await nats.connect(nats_server_url)
    yield connection.jetstream()
    await connection.close()


@pytest.fixture
def postgres_app(database_url: str) -> Iterator[AppFactory]:
    """Applications on this test's PostgreSQL database (closed after the test), as the service
    makes them; `fastforward=True` or `check_reads=True` when more than one writes."""
    apps: list[Conversations] = []

    def make(
        clock: Clock = utc_now, *, fastforward: bool = False, check_reads: bool = False
    ) -> Conversations:
        config = SessionConfig(
            nats_url="",
            nats_namespace="",
            database_url=database_url,
            api_tokens="",
            cache_fastforward=fastforward,
        )
        app = Conversations(config.event_store_env(), clock=clock, validate_reads=check_reads)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.close()


@pytest.fixture
def inbound(clock: FakeClock) -> InboundFactory:
    def make(
        *,
        wa_id: str = "",
        user_id: str = "",
        text: str = "hello",
        phone_number_id: str = "pn-1",
        wamid: str = "",
        sent_at: datetime | None = None,
        profile_name: str = "Ana",
        content: dict[str, str] | None = None,
        free_entry: bool = False,
        target_wamid: str = "",
    ) -> InboundMessage:
        if not wa_id and not user_id:
            wa_id = f"1555{uuid4().int % 10**7:07d}"
        return InboundMessage(
            wamid=wamid or f"wamid.{uuid4().hex}",
            phone_number_id=phone_number_id,
            wa_id=wa_id,
            user_id=user_id,
            profile_name=profile_name,
            content=content or {"type": "text", "text": text, "payload_json": ""},
            sent_at=sent_at or clock.now,
            free_entry=free_entry,
            target_wamid=target_wamid,
        )

    return make


@pytest.fixture(scope="session")
def legacy() -> ModuleType:
    """`legacy_session_events.py`: the domain-object path the record decoder replaced, as the
    oracle the decoder is compared with (loaded by path: test folders are not packages)."""
    path = Path(__file__).with_name("legacy_session_events.py")
    spec = importlib.util.spec_from_file_location("legacy_session_events", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EveryEventType = Callable[..., None]


@pytest.fixture
def every_event_type() -> EveryEventType:
    return record_every_event_type


@pytest.fixture
def same_event() -> Callable[[pb.SessionEvent, pb.SessionEvent], None]:
    return assert_same_event


_JSON_TEXT = ("metadata_json", "session_data_json", "fields_json")


def assert_same_event(new: pb.SessionEvent, old: pb.SessionEvent) -> None:
    """Equal, but for JSON text fields, which need only hold the same JSON value."""
    if new.SerializeToString(deterministic=True) == old.SerializeToString(deterministic=True):
        return
    new = pb.SessionEvent.FromString(new.SerializeToString())  # copies, changed below
    old = pb.SessionEvent.FromString(old.SerializeToString())
    body = new.WhichOneof("body")
    assert body == old.WhichOneof("body")
    for field in _JSON_TEXT:
        mine, theirs = getattr(new, body), getattr(old, body)
        if hasattr(mine, field):
            assert json.loads(getattr(mine, field)) == json.loads(getattr(theirs, field))
            setattr(mine, field, "")
            setattr(theirs, field, "")
    assert new == old


def record_every_event_type(app: Conversations, number: str = "pn-every") -> None:
    """One contact, key, business number and conversation whose histories hold every event
    type the session stores, with awkward values: non-ASCII text, datetimes in UTC, in
    another zone and naive, metadata and flow data with nested values, floats and nulls."""
    at = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
    contact = Contact(number, "15550001111", "", "Ana")
    key = ContactKey(number, "wa:15550001111", contact.id)
    business = BusinessNumber(number)
    business.set_autopilot(False)
    business.set_auto_resolution(24)
    business.register_template(
        name="follow_up", language="pt_BR", category="utility", body="Olá {{1}}, {{2}}?"
    )
    talk = Conversation(
        contact_id=contact.id,
        phone_number_id=number,
        customer_wa_id="15550001111",
        customer_user_id="",
        customer_name="Ana",
        session_key="whatsapp_+15550001111",
    )
    contact.open_conversation(talk.id)
    contact.learn_identity(wa_id="", user_id="BR.1234")
    contact.rename("Ána Souza")
    talk.learn_customer_identity(wa_id="", user_id="BR.1234")
    photo = uuid4()
    talk.receive_customer_message(
        message_id=photo,
        wamid="wamid.in.1",
        content={"type": "text", "text": 'Olá! 🙂 "_type_"', "payload_json": ""},
        sent_at=at,
        metadata={
            "raw": {"from": "15550001111", "n": [1, 2.5, -3, 1e16], "ok": True, "gone": None},
            "referral": {"source_type": "ad", "source_id": "120"},
            "émoji": "🙂",
            "empty": {},
        },
        trace=TRACE,
        free_entry=True,
    )
    talk.record_customer_change(
        message_id=uuid4(),
        wamid="wamid.in.2",
        kind="reaction",
        target_wamid="wamid.in.1",
        content={"type": "reaction", "text": "👍"},
        sent_at=(at + timedelta(seconds=1)).astimezone(timezone(timedelta(hours=5, minutes=30))),
        metadata={},
    )
    reply, failed = uuid4(), uuid4()
    talk.queue_outbound(
        message_id=reply,
        author="ai",
        content={"type": "text", "text": "Oi, Ana"},
        now=at + timedelta(minutes=1),
        in_reply_to=str(uuid4()),
        model="openai:gpt-4o-mini",
        prompt_tokens=425,
        completion_tokens=40,
        trace=TRACE,
        cached_tokens=128,
        latency_ms=812,
        assistant="salão",
        assistant_version=3,
        cost="0.00008775",
        covered_message_ids=("m-1", "m-2"),
    )
    talk.hold_early_status(
        wamid="wamid.out.1",
        status="delivered",
        reported_at=(at + timedelta(seconds=2)).replace(tzinfo=None),
        pricing={"billable": True, "category": "utility", "pricing_model": "PMP", "type": "x"},
    )
    talk.record_dispatch(message_id=reply, wamid="wamid.out.1", trace=TRACE)
    talk.report_status(wamid="wamid.out.1", status="sent", reported_at=at + timedelta(seconds=3))
    talk.report_status(
        wamid="wamid.out.1",
        status="read",
        reported_at=at + timedelta(seconds=4),
        errors=[{"code": 131047, "title": "Re-engagement", "message": "m", "details": "d"}],
    )
    talk.queue_outbound(
        message_id=failed,
        author="agent",
        content={"type": "text", "text": "?"},
        now=at,
        quoted_message_id=str(photo),
    )
    talk.record_dispatch_failure(
        message_id=failed, code=131026, title="Message undeliverable", detail="no WhatsApp"
    )
    talk.reach_flow_step(
        flow_id="order", step_id="size", data={"answers": {"size": "M", "qty": 2}}, completed=False
    )
    talk.reach_flow_step(
        flow_id="booking",
        step_id="ask-date",
        data={"name": "Ána Souza", "email": "ana@example.com", "guests": 2, "notes": None},
        completed=False,
        expires_at=(at + timedelta(hours=1)).astimezone(timezone(timedelta(hours=-3))),
        status="running",
        flow_version=3,
    )
    contact.collect_data(talk.id, {"name": "Ána Souza", "email": "ana@example.com", "guests": 2})
    talk.record_discarded_generation(
        generation_id="gen-1",
        model="anthropic:claude-sonnet-4-5",
        assistant="salão",
        assistant_version=3,
        prompt_tokens=1000,
        completion_tokens=200,
        cached_tokens=400,
        cost="0.00492",
        latency_ms=1500,
        covered_message_ids=("m-1",),
        trace=TRACE,
    )
    talk.fail_attachment(
        message_id=photo,
        media_id="media-1",
        media_type="image",
        reason="the Graph API answered 500 five times; último: «Service unavailable»",
        refused=False,
        attempts=5,
        failed_at=at + timedelta(seconds=40),
        trace=TRACE,
    )
    talk.store_attachment(
        message_id=photo,
        media_id="media-1",
        media_type="image",
        content_type="image/jpeg",
        size=2_147_483_648 + 17,  # beyond 32 bits
        sha256="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        file_name="fatura março.jpg",
        caption="a foto 🙂",
        voice=False,
        location="file:///var/threadline/media/9f/86/9f86d081.jpg",
        kept_at=(at + timedelta(minutes=3)).astimezone(timezone(timedelta(hours=-3))),
        trace=TRACE,
    )
    operator_file = uuid4()
    sent_pdf = OutgoingMedia(
        location="file:///var/threadline/media/ab/abcdef.pdf",
        content_type="application/pdf",
        size=2_147_483_648 + 5,  # beyond 32 bits
        sha256="ab" * 32,
        file_name="orçamento «março».pdf",
        media_type="document",
        caption="o orçamento 🙂",
    )
    talk.queue_outbound(
        message_id=operator_file,
        author="agent",
        content=sent_pdf.content(),
        now=at,
        media=sent_pdf,
        reply=ReplyPlace(reply_id=str(uuid4()), part=0, parts=2),
    )
    talk.store_attachment(
        message_id=operator_file,
        media_id="",
        media_type="document",
        content_type="application/pdf",
        size=sent_pdf.size,
        sha256=sent_pdf.sha256,
        file_name=sent_pdf.file_name,
        caption=sent_pdf.caption,
        voice=False,
        location=sent_pdf.location,
        kept_at=at,
        direction="outbound",
    )
    talk.record_missing_transcript(
        message_id=photo,
        reason="the transcription server answered 503 three times; último: «busy»",
        model="openai:whisper-1",
        failed_at=at + timedelta(seconds=50),
        trace=TRACE,
    )
    talk.record_transcript(
        message_id=photo,
        text='Olá, é sobre a "fatura" de março 🙂',
        language="pt",
        model="faster-whisper:small",
        duration_seconds=7.25,
        transcribed_at=(at + timedelta(minutes=4)).astimezone(timezone(timedelta(hours=-3))),
        trace=TRACE,
    )
    talk.record_tool_call(
        call_id="gen-7:call_1",
        generation_id="gen-7",
        tool="book_appointment",
        arguments_json='{"day":"sábado","service":"cut"}',
        status="ok",
        http_status=201,
        result_json='{"status": "ok", "response": {"booking_id": 7}}',
        latency_ms=42,
        mutating=True,
        replayed=False,
        trace=TRACE,
    )
    talk.collect_data(
        event_id="collect:gen-7:call_2",
        generation_id="gen-7",
        fields={"name": "Ána Souza", "email": "ana@example.com", "guests": "2"},
    )
    talk.hand_off(reason="asked for a person", by="ai")
    talk.resume_autopilot(by="agent")
    talk.change_status("escalated", reason="complaint", by="agent")
    talk.auto_resolve(now=at + timedelta(days=2), after=timedelta(hours=12))
    assistant = Assistant(f"salon-{number}")
    assistant.configure(
        AssistantSettings.validated(
            name=assistant.name,
            model="openai:gpt-4.1-mini",
            system_prompt="Você é a assistente do salão. 🙂 Be brief.",
            language="pt_BR",
            reply_delay_seconds=1.5,
            tools=("hand_off",),
            business_numbers=(number,),
        )
    )
    business.assign_assistant(number, assistant.name)
    flow = Flow.of(FlowSettings.from_text(flow_text(f"greet-{number}", number, "Olá, {name}! 🙂")))
    flow.configure(FlowSettings.from_text(flow_text(f"greet-{number}", number, "Oi, {name}!")))
    webhook = WebhookSubscription.of(
        WebhookSettings.validated(
            subscription_id=f"escalations-{number}",
            phone_number_id=number,
            url="https://example.com/hooks/threadline",
            secret_ref="THREADLINE_WEBHOOK_SECRET",
            events=["conversation.escalated", "customer.waiting"],
            enabled=True,
        )
    )
    webhook.remove()
    issuer = Principal(frozenset({"admin"}), None, "env:0123456789ab")
    token, _ = ApiToken.issue("console 🙂", ApiTokenScope.validated(["read"], [number]), issuer)
    token.revoke(issuer)
    app.save(contact, key, business, talk, assistant, flow, webhook, token)


def flow_text(flow_id: str, number: str, greeting: str) -> str:
    """A small flow's YAML on `number`: ask the name, greet with it."""
    return (
        f"id: {flow_id}\nname: Cumprimentar\nlanguage: pt_BR\n"
        f"business_numbers: [{number!r}]\ntrigger: {{keywords: [olá]}}\nsteps:\n"
        "  - {id: ask, ask: {field: name, type: name, prompt: 'Como se chama?'}}\n"
        f"  - {{id: done, end: {{text: {greeting!r}}}}}\n"
    )
