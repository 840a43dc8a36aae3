"""Operators' hostile or broken input over real gRPC, NATS and PostgreSQL (issue 8).

Every refusal is a status a caller can act on, naming the field; an id that is not one of the
caller's conversations (or streams) is NOT_FOUND alike, whatever it is, before anything else
is said about it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from nats.js import JetStreamContext

from threadline.contracts.events.v1 import common_pb2, ingest_pb2
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.messaging.topology import INBOUND_MESSAGE_RECEIVED, Topology
from threadline.servicekit.auth import hash_token
from threadline.session.bootstrap import RunningSession, bootstrap
from threadline.session.config import SessionConfig
from threadline.session.domain.business_number import business_number_id
from threadline.session.domain.contact import contact_key_id
from threadline.session.domain.identity import contact_id
from threadline.testing import eventually
from threadline.testing.grpc_fuzz import request_bytes, requests
from threadline.testing.grpc_surface import FAILURES, GrpcMethod, Outcome, session_methods

NUMBER_A, NUMBER_B = "pn-tenant-a", "pn-tenant-b"
TOKENS = {
    "admin": "read,write,admin:*",
    "tenant-a": f"read,write,admin:{NUMBER_A}",
    "tenant-b": f"read,write,admin:{NUMBER_B}",
}
CONVERSATION_COMMANDS = ("SendMessage", "UpdateConversationStatus", "HandOff", "ResumeAutopilot")
METHODS = {m.name: m for m in session_methods()}
ConfigFactory = Callable[..., SessionConfig]


def auth(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


@dataclass
class Session:
    service: RunningSession
    channel: grpc.aio.Channel
    js: JetStreamContext
    topology: Topology

    async def call(self, name: str, request: Any, token: str = "admin") -> Outcome:
        return await METHODS[name].call(self.channel, request, metadata=auth(token))

    async def customer_writes(self, number: str, wa_id: str) -> UUID:
        """The conversation the customer's first message opened."""
        fact = ingest_pb2.InboundMessageReceived(
            wamid=f"wamid.{uuid4().hex}",
            phone_number_id=number,
            customer=common_pb2.CustomerIdentity(wa_id=wa_id, profile_name="Ana"),
            content=common_pb2.MessageContent(type="text", text="hello"),
        )
        fact.sent_at.FromDatetime(datetime.now(UTC))
        fact.received_at.FromDatetime(datetime.now(UTC))
        await self.js.publish(
            self.topology.publish_subject(INBOUND_MESSAGE_RECEIVED, phone_number_id=number),
            fact.SerializeToString(),
            headers={"Nats-Msg-Id": fact.wamid},
        )
        found: list[UUID] = []

        def opened() -> bool:
            try:
                contact = self.service.app.repository.get(contact_id(number, wa_id, ""))
            except Exception:  # not stored yet
                return False
            if contact.open_conversation_id is None:
                return False
            found.append(contact.open_conversation_id)
            return True

        await eventually(opened, timeout=15)
        return found[-1]


@pytest.fixture
async def session(
    session_config: ConfigFactory, js: JetStreamContext, nats_namespace: str
) -> AsyncIterator[Session]:
    config = session_config(
        api_tokens=";".join(f"{hash_token(name)}:{grant}" for name, grant in TOKENS.items())
    )
    async with AsyncExitStack() as stack:
        service = await bootstrap(config, stack)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}")
        stack.push_async_callback(channel.close)
        yield Session(service, channel, js, Topology(nats_namespace))


def conversation_request(name: str, conversation_id: str) -> Any:
    """A request of a conversation command that would otherwise be accepted."""
    if name == "SendMessage":
        return pb.SendMessageRequest(
            conversation_id=conversation_id,
            idempotency_key="k1",
            content=common_pb2.MessageContent(type="text", text="hello"),
        )
    if name == "UpdateConversationStatus":
        return pb.UpdateConversationStatusRequest(
            conversation_id=conversation_id, status="completed"
        )
    if name == "HandOff":
        return pb.HandOffRequest(conversation_id=conversation_id, reason="wants a person")
    return pb.ResumeAutopilotRequest(conversation_id=conversation_id)


async def test_no_id_but_the_callers_own_conversation_is_ever_more_than_not_found(
    session: Session,
) -> None:
    wa_id = "15550009001"
    theirs = await session.customer_writes(NUMBER_A, wa_id)
    not_conversations = {
        "a contact": contact_id(NUMBER_A, wa_id, ""),
        "a contact key": contact_key_id(NUMBER_A, f"wa:{wa_id}"),
        "a business number": business_number_id(NUMBER_A),
        "nothing": uuid4(),
    }

    for name in CONVERSATION_COMMANDS:
        for token, ids in (
            ("tenant-b", {"another tenant's conversation": theirs, **not_conversations}),
            ("admin", not_conversations),
        ):
            for what, some_id in ids.items():
                outcome = await session.call(name, conversation_request(name, str(some_id)), token)

                assert outcome == Outcome(
                    grpc.StatusCode.NOT_FOUND, f"conversation {some_id} was not found"
                ), (name, token, what)


async def test_another_tenants_streams_and_unknown_ones_are_not_found_alike(
    session: Session,
) -> None:
    wa_id = "15550009002"
    conversation = await session.customer_writes(NUMBER_A, wa_id)
    streams = [
        conversation,
        contact_id(NUMBER_A, wa_id, ""),
        contact_key_id(NUMBER_A, f"wa:{wa_id}"),
        business_number_id(NUMBER_A),
        uuid4(),
    ]

    for stream in streams:
        outcome = await session.call(
            "ReadStream", pb.ReadStreamRequest(stream_id=str(stream)), "tenant-b"
        )

        assert outcome == Outcome(grpc.StatusCode.NOT_FOUND, f"stream {stream} was not found")
    own = await session.call(
        "ReadStream", pb.ReadStreamRequest(stream_id=str(conversation)), "tenant-a"
    )
    assert own.code == grpc.StatusCode.OK


async def test_not_found_comes_before_anything_said_about_the_request(session: Session) -> None:
    theirs = await session.customer_writes(NUMBER_A, "15550009003")

    bad_status = await session.call(
        "UpdateConversationStatus",
        pb.UpdateConversationStatusRequest(conversation_id=str(theirs), status="bogus"),
        "tenant-b",
    )
    bad_author = await session.call(
        "SendMessage",
        pb.SendMessageRequest(
            conversation_id=str(theirs),
            idempotency_key="k",
            author="robot",
            content=common_pb2.MessageContent(type="text", text="hi"),
        ),
        "tenant-b",
    )

    assert bad_status.code == bad_author.code == grpc.StatusCode.NOT_FOUND


async def test_the_owner_still_acts_on_the_conversation(session: Session) -> None:
    conversation = await session.customer_writes(NUMBER_A, "15550009004")

    handed = await session.call(
        "HandOff", pb.HandOffRequest(conversation_id=str(conversation)), "tenant-a"
    )

    assert handed.code == grpc.StatusCode.OK


LONG = "9" * 3000
CONVERSATION = "00000000-0000-4000-8000-000000000000"


def send(**fields: Any) -> pb.SendMessageRequest:
    base: dict[str, Any] = {"idempotency_key": "k1", "phone_number_id": NUMBER_A}
    base.update(customer_wa_id="15550001111")
    content = fields.pop("content", {"type": "text", "text": "hello"})
    return pb.SendMessageRequest(**{**base, **fields}, content=common_pb2.MessageContent(**content))


def template(**fields: str) -> pb.RegisterTemplateRequest:
    base = {
        "phone_number_id": NUMBER_A,
        "name": "order_update",
        "language": "en_US",
        "category": "UTILITY",
        "body": "Your order {{1}} has shipped",
    }
    return pb.RegisterTemplateRequest(**{**base, **fields})


@pytest.mark.parametrize(
    ("name", "request_", "expected"),
    [
        ("SendMessage", send(phone_number_id=LONG), "phone_number_id is too long: 3000"),
        ("SendMessage", send(phone_number_id="12/../34"), "phone_number_id must be letters"),
        ("SendMessage", send(customer_wa_id="+1 555 0100"), "customer_wa_id must be digits"),
        ("SendMessage", send(idempotency_key="k" * 300), "idempotency_key is too long"),
        ("SendMessage", send(author="a" * 40), "author is too long"),
        (
            "SendMessage",
            send(content={"type": "text", "text": "y" * 5000}),
            "content.text is too long: 5000 characters, at most 4096",
        ),
        (
            "SendMessage",
            send(content={"type": "text", "text": "nul \x00 here"}),
            "content.text must not contain NUL",
        ),
        (
            "SendMessage",
            send(content={"type": "interactive", "payload_json": "[" * 5000}),
            "content.payload_json nests deeper than",
        ),
        (
            "SendMessage",
            send(content={"type": "template", "payload_json": '{"name": "\\u0000"}'}),
            "content.payload_json must not contain NUL",
        ),
        (
            "SendMessage",
            send(content={"type": "interactive", "payload_json": '{"n": 1e999}'}),
            "content.payload_json is not valid JSON",
        ),
        (
            "SendMessage",
            send(content={"type": "interactive", "payload_json": '"just text"'}),
            "content.payload_json must be a non-empty JSON object",
        ),
        ("SendMessage", send(conversation_id="not-a-uuid" * 300), "conversation_id is too long"),
        ("SendMessage", send(conversation_id="nope"), "conversation_id must be a UUID, got 'nope'"),
        ("RegisterTemplate", template(name="x" * 3000), "name is too long: 3000"),
        ("RegisterTemplate", template(name="Order Update"), "name must be lowercase"),
        ("RegisterTemplate", template(language="english!"), "language must be a language code"),
        ("RegisterTemplate", template(body="b" * 1025), "body is too long: 1025"),
        ("RegisterTemplate", template(category="c" * 33), "category is too long"),
        ("SetAutopilot", pb.SetAutopilotRequest(phone_number_id=LONG), "phone_number_id is too"),
        ("ListTemplates", pb.ListTemplatesRequest(phone_number_id="a\x00"), "phone_number_id must"),
        (
            "UpdateConversationStatus",
            pb.UpdateConversationStatusRequest(conversation_id=CONVERSATION, status="a\x00"),
            "status must not contain NUL",
        ),
        (
            "HandOff",
            pb.HandOffRequest(conversation_id=CONVERSATION, reason="r" * 1025),
            "reason is too long",
        ),
        ("ReadStream", pb.ReadStreamRequest(stream_id=LONG), "stream_id is too long"),
        ("ReadAll", pb.ReadAllRequest(from_position=2**64 - 1), "from_position may be at most"),
        (
            "ReadAllPages",
            pb.ReadAllPagesRequest(from_position=2**63),
            "from_position may be at most",
        ),
    ],
)
async def test_bad_operator_input_is_an_invalid_argument_naming_the_field(
    session: Session, name: str, request_: Any, expected: str
) -> None:
    outcome = await session.call(name, request_)

    assert outcome.code == grpc.StatusCode.INVALID_ARGUMENT, outcome
    assert outcome.details.startswith(expected), outcome.details
    assert len(outcome.details) < 400


async def test_a_long_template_name_in_a_send_is_echoed_short(session: Session) -> None:
    payload = {"name": "t" * 10_000, "language": {"code": "en"}}

    outcome = await session.call(
        "SendMessage", send(content={"type": "template", "payload_json": json.dumps(payload)})
    )

    assert outcome.code == grpc.StatusCode.FAILED_PRECONDITION
    assert outcome.details.startswith(f"template {'t' * 64!r}… (10000 characters)")


async def test_malformed_bytes_are_an_invalid_argument_for_every_method(session: Session) -> None:
    for method in METHODS.values():
        malformed = [b"\xff\xff\xff", b"\x0a\x05ab"]  # no field; a field cut short
        if method.request.DESCRIPTOR.fields_by_number[1].type == FieldDescriptor.TYPE_STRING:
            malformed.append(b"\x0a\x03\xed\xa0\x80")  # a lone surrogate: not UTF-8
        for data in malformed:
            outcome = await method.call(session.channel, data, metadata=auth("admin"))

            assert outcome.code == grpc.StatusCode.INVALID_ARGUMENT, (method.name, data)
            assert outcome.details.endswith(method.path)


def known_ids() -> list[str]:
    return [
        str(business_number_id(NUMBER_A)),
        str(contact_id(NUMBER_A, "15550001111", "")),
        CONVERSATION,
        NUMBER_A,
        NUMBER_B,
        "15550001111",
        "order_update",
        "en_US",
        "UTILITY",
    ]


def any_method_and_request(raw: bool) -> st.SearchStrategy[tuple[GrpcMethod, Any]]:
    make = request_bytes if raw else requests
    return st.one_of(
        [
            make(method.request, known=known_ids()).map(lambda r, m=method: (m, r))
            for method in METHODS.values()
        ]
    )


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(call=any_method_and_request(raw=False), token=st.sampled_from(sorted(TOKENS)))
async def test_no_request_to_any_method_ends_in_a_failure(
    session: Session, call: tuple[GrpcMethod, Any], token: str
) -> None:
    method, request = call

    outcome = await method.call(session.channel, request, metadata=auth(token))

    event(f"{method.name}: {outcome.code.name}")
    assert outcome.code not in FAILURES, (method.name, outcome)
    assert len(outcome.details.encode()) <= 1024


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(call=any_method_and_request(raw=True))
async def test_no_bytes_sent_to_any_method_end_in_a_failure(
    session: Session, call: tuple[GrpcMethod, bytes]
) -> None:
    method, data = call

    outcome = await method.call(session.channel, data, metadata=auth("admin"))

    assert outcome.code not in FAILURES, (method.name, outcome)


def test_every_method_of_the_session_is_fuzzed() -> None:
    commands = [*CONVERSATION_COMMANDS, "SetAutopilot", "SetAutoResolution"]
    commands += ["RegisterTemplate", "ListTemplates"]
    commands += ["ConfigureAssistant", "ListAssistants", "ConfigureFlow", "ListFlows"]
    commands += ["ConfigureWebhookSubscription", "ListWebhookSubscriptions"]
    commands += ["SendTestMessage"]
    commands += ["IssueApiToken", "ListApiTokens", "RevokeApiToken"]
    assert sorted(METHODS) == sorted([*commands, "ReadAll", "ReadStream", "ReadAllPages"])
