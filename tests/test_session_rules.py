"""The session's rules through ingest → NATS → session → PostgreSQL, with webhook payloads in
Meta's documented shape.

Each test posts signed copies of the project's webhook samples (`threadline.testing.samples`:
ids, numbers and timestamps changed) to the platform's webhook and reads what the session recorded
from its event log over gRPC.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
import grpc
import nats
import pytest
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from tests.conftest import Platform
from threadline.contracts.events.v1 import ai_pb2, common_pb2
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.messaging.topology import AI_EVENTS, INGEST_EVENTS, SESSION_INGEST, Topology
from threadline.sandbox.outbox import AcceptedMessage
from threadline.sandbox.signing import sign
from threadline.sandbox.statuses import StatusReporter
from threadline.testing import eventually, unique_id
from threadline.testing.samples import webhook_sample

if TYPE_CHECKING:
    from threadline.contracts.session.v1.session_pb2_grpc import (
        EventLogAsyncStub,
        SessionCommandsAsyncStub,
    )

DISPLAY_PHONE_NUMBER = "15550000077"
Json = dict[str, Any]


# Who writes to whom ---------------------------------------------------------------------


@dataclass(frozen=True)
class Customer:
    wa_id: str
    user_id: str
    name: str = "Test Name"


def new_customer() -> Customer:
    digits = int(unique_id(), 16)
    return Customer(
        wa_id="1555" + str(digits % 10**7).zfill(7),
        user_id="US." + str(digits % 10**20).zfill(20),
    )


def new_business_number() -> str:
    return "1090" + str(int(unique_id(), 16) % 10**11).zfill(11)


def new_wamid() -> str:
    return "wamid." + unique_id(length=32)


def now_unix() -> int:
    return int(time.time())


# Sample payloads, readdressed ------------------------------------------------------------


def _value(body: Json) -> Json:
    value: Json = body["entry"][0]["changes"][0]["value"]
    return value


def inbound(
    file: str,
    name: str,
    number: str,
    customer: Customer,
    *,
    wamid: str | None = None,
    sent_at: int | None = None,
    phone: bool = True,
    bsuid: bool = True,
    profile_name: str | None = None,
) -> tuple[Json, str]:
    """A message sample sent by `customer` to `number`; the body and the message's wamid.

    `phone`/`bsuid` say which ids the payload carries: a customer known only by BSUID comes
    as `from_user_id` and `contacts[].user_id`, without `from` and `wa_id` (the 2026 shape).
    """
    body = webhook_sample(file, name)
    value = _value(body)
    value["metadata"] = {
        "display_phone_number": DISPLAY_PHONE_NUMBER,
        "phone_number_id": number,
    }
    contact: Json = {"profile": {"name": profile_name or customer.name}}
    if phone:
        contact["wa_id"] = customer.wa_id
    if bsuid:
        contact["user_id"] = customer.user_id
    value["contacts"] = [contact]
    message: Json = value["messages"][0]
    message.pop("from", None)
    message.pop("from_user_id", None)
    if phone:
        message["from"] = customer.wa_id
    else:
        message["from_user_id"] = customer.user_id
    message["id"] = wamid or new_wamid()
    message["timestamp"] = str(sent_at if sent_at is not None else now_unix())
    return body, message["id"]


def text_message(number: str, customer: Customer, text: str, **options: Any) -> tuple[Json, str]:
    body, wamid = inbound("messages", "text", number, customer, **options)
    _value(body)["messages"][0]["text"] = {"body": text}
    return body, wamid


def status_webhook(name: str, number: str, customer: Customer, wamid: str, **status: Any) -> Json:
    """A `statuses` sample about the message `wamid` sent to `customer`."""
    body = webhook_sample("statuses", name)
    value = _value(body)
    value["metadata"] = {
        "display_phone_number": DISPLAY_PHONE_NUMBER,
        "phone_number_id": number,
    }
    value["contacts"] = [
        {"profile": {"name": customer.name}, "wa_id": customer.wa_id, "user_id": customer.user_id}
    ]
    entry: Json = value["statuses"][0]
    entry.update(id=wamid, recipient_id=customer.wa_id, timestamp=str(now_unix()), **status)
    return body


async def post(platform: Platform, body: Json | bytes) -> None:
    """Deliver a webhook as Meta does: the raw body, signed with the app secret."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            platform.webhook_url,
            data=raw,
            headers={
                "Content-Type": "application/json",
                "X-Hub-Signature-256": sign(raw, platform.app_secret),
            },
        ) as response,
    ):
        assert response.status == 200, await response.text()


# The session's side ----------------------------------------------------------------------


@dataclass
class Session:
    """The session service's gRPC API, with the platform's token."""

    commands: SessionCommandsAsyncStub
    log: EventLogAsyncStub
    auth: tuple[tuple[str, str]]

    async def events(self) -> list[SessionEvent]:
        return [e async for e in self.log.ReadAll(pb.ReadAllRequest(), metadata=self.auth)]

    async def events_with(self, body: str) -> list[SessionEvent]:
        """Every stored event whose oneof `body` is `body` (the event's name, in snake case)."""
        return [e for e in await self.events() if e.WhichOneof("body") == body]

    async def wait_for(
        self, body: str, where: Callable[[SessionEvent], bool] = lambda e: True, count: int = 1
    ) -> list[SessionEvent]:
        """Wait until at least `count` events of kind `body` match `where`; all that match."""
        found: list[SessionEvent] = []

        async def recorded() -> bool:
            found[:] = [e for e in await self.events_with(body) if where(e)]
            return len(found) >= count

        await eventually(recorded, timeout=20)
        return found

    async def received(self, wamid: str) -> SessionEvent:
        """The `CustomerMessageReceived` of the customer's message `wamid`, once recorded."""
        found = await self.wait_for(
            "customer_message_received", lambda e: e.customer_message_received.wamid == wamid
        )
        return found[0]

    async def dispatched(self, wamid: str) -> SessionEvent:
        """The `OutboundMessageDispatched` naming `wamid`, once recorded."""
        found = await self.wait_for(
            "outbound_message_dispatched", lambda e: e.outbound_message_dispatched.wamid == wamid
        )
        return found[0]


@pytest.fixture
async def session(platform: Platform) -> AsyncIterator[Session]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{platform.session_grpc_port}") as channel:
        yield Session(
            commands=pb_grpc.SessionCommandsStub(channel),
            log=pb_grpc.EventLogStub(channel),
            auth=platform.auth,
        )


@dataclass
class Streams:
    js: JetStreamContext
    topology: Topology


@pytest.fixture
async def streams(nats_server_url: str, nats_namespace: str) -> AsyncIterator[Streams]:
    nc = await nats.connect(nats_server_url)
    try:
        yield Streams(nc.jetstream(), Topology(nats_namespace))
    finally:
        await nc.close()


@pytest.fixture
def sandbox_sends_no_statuses(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox accepts messages but plays no statuses: the test sends WhatsApp's own."""
    monkeypatch.setattr(StatusReporter, "report", lambda self, message: None)


async def reply_at_sandbox(platform: Platform, to: str, count: int = 1) -> AcceptedMessage:
    """The `count`-th message the sandbox accepted for `to`, once accepted."""
    await eventually(lambda: len(platform.sandbox.outbox.messages(to=to)) >= count, timeout=20)
    return platform.sandbox.outbox.messages(to=to)[count - 1]


async def assistant_stayed_silent(
    platform: Platform, streams: Streams, conversation_id: str, message_id: str
) -> None:
    """Wait until the AI responder has the message in its view, then past its reply delay
    (0.05 s on the test platform) many times over: it drafted nothing for it (with a person
    on the conversation or the autopilot off, the model is not even asked)."""
    views = platform.ai_responder.views

    async def seen() -> bool:
        view = await views.conversation(conversation_id)
        return view is not None and view.customer_message(message_id) is not None

    await eventually(seen)
    await asyncio.sleep(0.5)
    stream = streams.topology.stream(AI_EVENTS)
    subject = streams.topology.subject("ai_responder.events", "0", "Conversation", "ReplyDrafted")
    try:
        last = await streams.js.get_last_msg(stream, subject)
    except NotFoundError:
        return
    draft = ai_pb2.ReplyDrafted.FromString(last.data or b"")
    assert message_id not in (draft.in_reply_to_message_id, *draft.covered_message_ids)


async def draft_was_considered(streams: Streams, message_id: str) -> None:
    """Wait until the assistant drafted a reply to `message_id` and the session's drafts
    consumer has settled that draft (recorded, or ignored on purpose)."""
    stream = streams.topology.stream(AI_EVENTS)
    subject = streams.topology.subject("ai_responder.events", "0", "Conversation", "ReplyDrafted")
    sequence = 0

    async def drafted() -> bool:
        nonlocal sequence
        try:
            last = await streams.js.get_last_msg(stream, subject)
        except NotFoundError:
            return False
        sequence = last.seq or 0
        draft = ai_pb2.ReplyDrafted.FromString(last.data or b"")
        return draft.in_reply_to_message_id == message_id

    async def settled() -> bool:
        info = await streams.js.consumer_info(stream, "session-drafts")
        floor = info.ack_floor.stream_seq if info.ack_floor else 0
        return (floor or 0) >= sequence and info.num_ack_pending == 0

    await eventually(drafted, timeout=20)
    await eventually(settled, timeout=20)


async def ingest_facts_settled(streams: Streams) -> None:
    """Wait until the session has settled every fact ingest published."""
    stream = streams.topology.stream(INGEST_EVENTS)

    async def settled() -> bool:
        last = (await streams.js.stream_info(stream)).state.last_seq
        info = await streams.js.consumer_info(stream, SESSION_INGEST.name)
        floor = info.ack_floor.stream_seq if info.ack_floor else 0
        return (floor or 0) >= last and info.num_ack_pending == 0

    await eventually(settled, timeout=20)


# 1. Identity ------------------------------------------------------------------------------


async def test_a_customer_first_seen_by_bsuid_then_by_both_ids_is_one_contact_and_conversation(
    platform: Platform, session: Session
) -> None:
    number, customer = new_business_number(), new_customer()
    first, first_wamid = text_message(number, customer, "Hi, is this the bakery?", phone=False)
    second, second_wamid = text_message(number, customer, "Do you have rye bread?")
    third, third_wamid = text_message(number, customer, "Thanks!", bsuid=False)

    await post(platform, first)
    await session.received(first_wamid)
    await post(platform, second)
    await session.received(second_wamid)
    await post(platform, third)
    await session.received(third_wamid)

    (registered,) = await session.events_with("contact_registered")
    assert registered.contact_registered.customer.wa_id == ""
    assert registered.contact_registered.customer.user_id == customer.user_id
    claims = {
        e.contact_key_claimed.key: e.contact_key_claimed.contact_id
        for e in await session.events_with("contact_key_claimed")
    }
    assert claims == {
        f"bsuid:{customer.user_id}": registered.aggregate_id,
        f"wa:{customer.wa_id}": registered.aggregate_id,
    }
    linked, learned = await session.events_with("contact_identity_linked")
    assert (linked.aggregate_type, learned.aggregate_type) == ("Contact", "Conversation")
    assert linked.aggregate_id == registered.aggregate_id
    assert (linked.contact_identity_linked.wa_id, linked.contact_identity_linked.user_id) == (
        customer.wa_id,
        "",
    )
    (started,) = await session.events_with("conversation_started")
    assert started.conversation_started.contact_id == registered.aggregate_id
    messages = await session.events_with("customer_message_received")
    assert [(m.aggregate_id, m.customer_message_received.wamid) for m in messages] == [
        (started.aggregate_id, first_wamid),
        (started.aggregate_id, second_wamid),
        (started.aggregate_id, third_wamid),
    ]


async def test_once_a_bsuid_first_customers_phone_number_is_known_replies_are_addressed_to_it(
    platform: Platform, session: Session
) -> None:
    number, customer = new_business_number(), new_customer()
    first, first_wamid = text_message(number, customer, "Hi, is this the bakery?", phone=False)
    await post(platform, first)
    await session.received(first_wamid)
    await session.wait_for("outbound_message_queued")
    second, second_wamid = text_message(number, customer, "Do you have rye bread?")

    await post(platform, second)
    answered = await session.received(second_wamid)

    (reply,) = await session.wait_for(
        "outbound_message_queued",
        lambda e: (
            e.outbound_message_queued.in_reply_to_message_id
            == answered.customer_message_received.message_id
        ),
    )
    # The Cloud API's `to` wins over `recipient`, and outbound addresses `to` whenever the
    # queued event names a wa_id: the session must name the one it has learned.
    assert reply.outbound_message_queued.recipient.wa_id == customer.wa_id


# 2. Profile name ---------------------------------------------------------------------------


async def test_the_profile_name_is_updated_when_the_payload_carries_a_new_one(
    platform: Platform, session: Session
) -> None:
    number, customer = new_business_number(), new_customer()
    first, first_wamid = text_message(number, customer, "Hello", profile_name="Ana")
    second, second_wamid = text_message(number, customer, "Hello again", profile_name="Ana Souza")

    await post(platform, first)
    await session.received(first_wamid)
    await post(platform, second)
    await session.received(second_wamid)

    (registered,) = await session.events_with("contact_registered")
    assert registered.contact_registered.customer.profile_name == "Ana"
    renamed = await session.events_with("contact_profile_name_changed")
    assert [(e.aggregate_id, e.contact_profile_name_changed.profile_name) for e in renamed] == [
        (registered.aggregate_id, "Ana Souza")
    ]


# 3. The window: free entry point (ad referral) ---------------------------------------------


async def test_an_ad_referral_opens_a_free_entry_window_in_which_an_operator_text_is_accepted(
    platform: Platform, session: Session
) -> None:
    number, customer = new_business_number(), new_customer()
    # 30 hours ago: the 24-hour window has closed, the 72-hour free entry window has not.
    body, wamid = inbound("messages", "referral", number, customer, sent_at=now_unix() - 30 * 3600)

    await post(platform, body)
    received = await session.received(wamid)

    assert received.customer_message_received.free_entry is True
    sent = await session.commands.SendMessage(
        pb.SendMessageRequest(
            conversation_id=received.aggregate_id,
            content=common_pb2.MessageContent(type="text", text="Thanks for your interest!"),
            idempotency_key=unique_id("op-"),
        ),
        metadata=session.auth,
    )
    assert sent.conversation_id == received.aggregate_id
    (queued,) = await session.wait_for(
        "outbound_message_queued", lambda e: e.outbound_message_queued.message_id == sent.message_id
    )
    assert queued.outbound_message_queued.author == "agent"
    delivered = await reply_at_sandbox(platform, customer.wa_id)
    assert delivered.request["text"] == {"body": "Thanks for your interest!", "preview_url": False}


async def test_an_operator_text_is_rejected_when_the_customer_last_wrote_over_a_day_ago(
    platform: Platform, session: Session
) -> None:
    number, customer = new_business_number(), new_customer()
    body, wamid = text_message(number, customer, "Hi", sent_at=now_unix() - 30 * 3600)

    await post(platform, body)
    received = await session.received(wamid)

    assert received.customer_message_received.free_entry is False
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await session.commands.SendMessage(
            pb.SendMessageRequest(
                conversation_id=received.aggregate_id,
                content=common_pb2.MessageContent(type="text", text="Are you still there?"),
                idempotency_key=unique_id("op-"),
            ),
            metadata=session.auth,
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "window closed at" in (refused.value.details() or "")


# 4. Edits, deletions, reactions -------------------------------------------------------------


async def test_an_edit_a_revoke_a_reaction_and_its_removal_are_recorded_as_changes_of_the_message(
    platform: Platform, session: Session
) -> None:
    number, customer = new_business_number(), new_customer()
    original, original_wamid = inbound("messages", "image", number, customer)
    await post(platform, original)
    target = await session.received(original_wamid)

    edit, edit_wamid = inbound("changes", "edit", number, customer)
    _value(edit)["messages"][0]["edit"]["original_message_id"] = original_wamid
    revoke, revoke_wamid = inbound("changes", "revoke", number, customer)
    _value(revoke)["messages"][0]["revoke"]["original_message_id"] = original_wamid
    reaction, reaction_wamid = inbound("messages", "reaction", number, customer)
    _value(reaction)["messages"][0]["reaction"]["message_id"] = original_wamid
    removal, removal_wamid = inbound("messages", "reaction_removed", number, customer)
    _value(removal)["messages"][0]["reaction"]["message_id"] = original_wamid
    for body in (edit, revoke, reaction, removal):
        await post(platform, body)

    changes = await session.wait_for("customer_message_changed", count=4)
    target_id = target.customer_message_received.message_id
    assert {e.aggregate_id for e in changes} == {target.aggregate_id}
    assert [
        (
            e.customer_message_changed.wamid,
            e.customer_message_changed.kind,
            e.customer_message_changed.target_wamid,
            e.customer_message_changed.target_message_id,
            e.customer_message_changed.content.text,
        )
        for e in changes
    ] == [
        (edit_wamid, "edit", original_wamid, target_id, "The lid is chipped, see here"),
        (revoke_wamid, "revoke", original_wamid, target_id, ""),
        (reaction_wamid, "reaction", original_wamid, target_id, "\N{THUMBS UP SIGN}"),
        (removal_wamid, "reaction", original_wamid, target_id, ""),
    ]


async def test_a_reaction_to_the_assistants_reply_names_the_reply_it_changes(
    platform: Platform, session: Session
) -> None:
    number, customer = new_business_number(), new_customer()
    question, _ = text_message(number, customer, "Do you open on Sundays?")
    await post(platform, question)
    reply = await reply_at_sandbox(platform, customer.wa_id)
    dispatched = await session.dispatched(reply.wamid)
    reaction, reaction_wamid = inbound("messages", "reaction", number, customer)
    _value(reaction)["messages"][0]["reaction"]["message_id"] = reply.wamid

    await post(platform, reaction)

    (changed,) = await session.wait_for("customer_message_changed")
    assert (
        changed.aggregate_id,
        changed.customer_message_changed.wamid,
        changed.customer_message_changed.target_message_id,
    ) == (
        dispatched.aggregate_id,
        reaction_wamid,
        dispatched.outbound_message_dispatched.message_id,
    )


# 5. Location ---------------------------------------------------------------------------------


async def test_a_location_keeps_its_coordinates_and_a_map_link_in_the_metadata(
    platform: Platform, session: Session
) -> None:
    number, customer = new_business_number(), new_customer()
    body, wamid = inbound("messages", "chosen_location", number, customer)

    await post(platform, body)
    received = await session.received(wamid)

    message = received.customer_message_received
    metadata = json.loads(message.metadata_json)
    assert message.content.type == "location"
    assert metadata["coordinates"] == {"latitude": 51.5033635, "longitude": -0.1276248}
    assert metadata["map_link"] == "https://www.google.com/maps?q=51.5033635,-0.1276248"
    # The location object is the content's payload (metadata["raw"] keeps the rest of the
    # message: a message's content is kept once, issue 8).
    location = json.loads(message.content.payload_json)
    assert location["name"] == "Threadline Pottery Shop"
    assert location["address"] == "12 Clay Lane, London SW1A 2AA"
    assert "location" not in metadata["raw"]


# 6. Redelivery ---------------------------------------------------------------------------------


async def test_a_webhook_delivered_twice_stores_its_message_once_and_is_answered_once(
    platform: Platform, session: Session, streams: Streams
) -> None:
    number, customer = new_business_number(), new_customer()
    body, wamid = text_message(number, customer, "Is the shop open today?")
    raw = json.dumps(body).encode()

    await post(platform, raw)
    await post(platform, raw)
    received = await session.received(wamid)
    await ingest_facts_settled(streams)
    await draft_was_considered(streams, received.customer_message_received.message_id)
    await reply_at_sandbox(platform, customer.wa_id)

    stored = await session.wait_for(
        "customer_message_received", lambda e: e.customer_message_received.wamid == wamid
    )
    assert len(stored) == 1
    assert len(await session.events_with("outbound_message_queued")) == 1
    assert len(platform.sandbox.outbox.messages(to=customer.wa_id)) == 1


# 7, 8. Statuses --------------------------------------------------------------------------------


async def test_statuses_of_a_reply_arriving_out_of_order_end_read_and_keep_the_late_one_and_pricing(
    platform: Platform, session: Session, sandbox_sends_no_statuses: None
) -> None:
    number, customer = new_business_number(), new_customer()
    question, _ = text_message(number, customer, "Where is my order?")
    await post(platform, question)
    reply = await reply_at_sandbox(platform, customer.wa_id)
    dispatched = await session.dispatched(reply.wamid)
    pricing = {"billable": True, "pricing_model": "PMP", "category": "utility", "type": "regular"}

    await post(platform, status_webhook("read", number, customer, reply.wamid, pricing=pricing))
    await post(
        platform, status_webhook("delivered", number, customer, reply.wamid, pricing=pricing)
    )

    (late,) = await session.wait_for(
        "late_status_recorded", lambda e: e.late_status_recorded.wamid == reply.wamid
    )
    assert late.late_status_recorded.status == "delivered"
    assert late.late_status_recorded.message_id == dispatched.outbound_message_dispatched.message_id
    changed = await session.events_with("message_status_changed")
    assert [(e.message_status_changed.wamid, e.message_status_changed.status) for e in changed] == [
        (reply.wamid, "read")
    ]
    kept = changed[0].message_status_changed.pricing
    assert (kept.billable, kept.pricing_model, kept.category, kept.type) == (
        True,
        "PMP",
        "utility",
        "regular",
    )


async def test_a_failed_status_before_delivery_marks_the_reply_failed_with_the_error(
    platform: Platform, session: Session, sandbox_sends_no_statuses: None
) -> None:
    number, customer = new_business_number(), new_customer()
    question, _ = text_message(number, customer, "Can you call me back?")
    await post(platform, question)
    reply = await reply_at_sandbox(platform, customer.wa_id)
    await session.dispatched(reply.wamid)

    await post(platform, status_webhook("sent", number, customer, reply.wamid))
    await post(platform, status_webhook("failed", number, customer, reply.wamid))

    (failed,) = await session.wait_for(
        "message_status_changed", lambda e: e.message_status_changed.status == "failed"
    )
    assert failed.message_status_changed.wamid == reply.wamid
    assert [(e.code, e.title) for e in failed.message_status_changed.errors] == [
        (130472, "User's number is part of an experiment")
    ]
    assert failed.message_status_changed.errors[0].details == (
        "Failed to send message because this user's phone number is part of an experiment"
    )


async def test_statuses_of_a_reply_to_a_customer_known_only_by_bsuid_are_recorded(
    platform: Platform, session: Session, sandbox_sends_no_statuses: None
) -> None:
    number, customer = new_business_number(), new_customer()
    question, _ = text_message(number, customer, "Hi, I use a username", phone=False)
    await post(platform, question)
    reply = await reply_at_sandbox(platform, customer.user_id)
    assert reply.request["recipient"] == customer.user_id
    await session.dispatched(reply.wamid)
    # The 2026 shape for a message sent to a BSUID: `recipient_user_id`, no phone number.
    status = status_webhook("delivered", number, customer, reply.wamid)
    value = _value(status)
    del value["statuses"][0]["recipient_id"]
    value["statuses"][0]["recipient_user_id"] = customer.user_id
    value["contacts"] = [{"profile": {"name": customer.name}, "user_id": customer.user_id}]

    await post(platform, status)

    (changed,) = await session.wait_for("message_status_changed")
    assert (changed.message_status_changed.wamid, changed.message_status_changed.status) == (
        reply.wamid,
        "delivered",
    )


async def test_the_sandboxs_own_statuses_of_a_reply_sent_to_a_bsuid_are_recorded(
    platform: Platform, session: Session, streams: Streams
) -> None:
    number, customer = new_business_number(), new_customer()
    question, _ = text_message(number, customer, "Hi, I use a username", phone=False)
    await post(platform, question)
    reply = await reply_at_sandbox(platform, customer.user_id)
    await session.dispatched(reply.wamid)

    await platform.sandbox.wait_for_statuses()
    await ingest_facts_settled(streams)

    changed = await session.events_with("message_status_changed")
    assert [e.message_status_changed.status for e in changed] == ["sent", "delivered", "read"]


# 9, 10. Who answers ----------------------------------------------------------------------------


async def test_after_a_hand_off_the_assistant_stays_silent_until_autopilot_is_resumed(
    platform: Platform, session: Session, streams: Streams
) -> None:
    number, customer = new_business_number(), new_customer()
    first, first_wamid = text_message(number, customer, "Hello, I have a question")
    await post(platform, first)
    conversation = (await session.received(first_wamid)).aggregate_id
    await reply_at_sandbox(platform, customer.wa_id)

    handed = await session.commands.HandOff(
        pb.HandOffRequest(conversation_id=conversation, reason="a complaint"),
        metadata=session.auth,
    )
    assert handed.status == "escalated"
    second, second_wamid = text_message(number, customer, "My parcel arrived broken")
    await post(platform, second)
    unanswered = await session.received(second_wamid)
    await assistant_stayed_silent(
        platform, streams, conversation, unanswered.customer_message_received.message_id
    )

    queued = await session.events_with("outbound_message_queued")
    assert unanswered.customer_message_received.message_id not in {
        e.outbound_message_queued.in_reply_to_message_id for e in queued
    }
    assert len(platform.sandbox.outbox.messages(to=customer.wa_id)) == 1

    resumed = await session.commands.ResumeAutopilot(
        pb.ResumeAutopilotRequest(conversation_id=conversation), metadata=session.auth
    )
    assert resumed.status == "active"
    third, third_wamid = text_message(number, customer, "Can I get a refund?")
    await post(platform, third)
    answered = await session.received(third_wamid)
    assert answered.aggregate_id == conversation
    await reply_at_sandbox(platform, customer.wa_id, count=2)


async def test_with_autopilot_off_for_the_number_new_messages_get_no_reply(
    platform: Platform, session: Session, streams: Streams
) -> None:
    number, customer = new_business_number(), new_customer()
    switched = await session.commands.SetAutopilot(
        pb.SetAutopilotRequest(phone_number_id=number, enabled=False), metadata=session.auth
    )
    assert switched.enabled is False

    body, wamid = text_message(number, customer, "Hello, anyone there?")
    await post(platform, body)
    received = await session.received(wamid)
    await assistant_stayed_silent(
        platform, streams, received.aggregate_id, received.customer_message_received.message_id
    )

    assert await session.events_with("outbound_message_queued") == []
    assert platform.sandbox.outbox.messages(to=customer.wa_id) == []


# 11. Business-initiated templates --------------------------------------------------------------


async def test_a_registered_template_starts_a_business_initiated_conversation_of_its_category(
    platform: Platform, session: Session
) -> None:
    number, customer = new_business_number(), new_customer()
    name = unique_id("order_shipped_")
    registered = await session.commands.RegisterTemplate(
        pb.RegisterTemplateRequest(
            phone_number_id=number,
            name=name,
            language="en_US",
            category="utility",
            body="Hi {{1}}, your order {{2}} has shipped.",
        ),
        metadata=session.auth,
    )
    assert (registered.category, registered.parameter_count) == ("UTILITY", 2)
    template = {
        "name": name,
        "language": {"code": "en_US"},
        "components": [
            {
                "type": "body",
                "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "A-1"}],
            }
        ],
    }

    sent = await session.commands.SendMessage(
        pb.SendMessageRequest(
            phone_number_id=number,
            customer_wa_id=customer.wa_id,
            content=common_pb2.MessageContent(type="template", payload_json=json.dumps(template)),
            idempotency_key=unique_id("campaign-"),
        ),
        metadata=session.auth,
    )

    at_sandbox = await reply_at_sandbox(platform, customer.wa_id)
    assert at_sandbox.request["type"] == "template"
    assert at_sandbox.request["template"] == template
    (started,) = await session.events_with("conversation_started")
    assert started.aggregate_id == sent.conversation_id
    assert (
        started.conversation_started.opened_by,
        started.conversation_started.category,
        started.conversation_started.session_key,
    ) == ("business", "UTILITY", f"whatsapp_+{customer.wa_id}")
