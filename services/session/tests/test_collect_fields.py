"""The customer data an assistant collects (issue 12 item 2): the assistant file's `collect`
fields checked by the session (the field at fault named, INVALID_ARGUMENT over gRPC), kept
canonical and carried on `AssistantConfigured`; the values the assistant's tool saved
(`CustomerDataCollected`) recorded on the conversation (`ConversationDataCollected`, only
changed keys, once by the report's id) and on its contact, in the same unit of work."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any
from uuid import uuid4

import grpc
import pytest

from threadline.contracts.events.v1 import ai_pb2
from threadline.contracts.events.v1 import session_pb2 as events_pb
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.messaging.topology import CUSTOMER_DATA_COLLECTED, Topology
from threadline.servicekit.auth import hash_token
from threadline.session.adapters.integration_events.incoming_facts import decode_fact
from threadline.session.adapters.integration_events.session_events import SessionEvents
from threadline.session.adapters.outbound.stored_records import StoredRecords
from threadline.session.application.contacts import find_contact
from threadline.session.application.conversations import Conversations
from threadline.session.application.facts import CollectedData, InboundMessage
from threadline.session.application.unit_of_work import UnitOfWork
from threadline.session.application.views import ConversationView
from threadline.session.bootstrap import bootstrap
from threadline.session.config import SessionConfig
from threadline.session.domain.assistant import Assistant, AssistantSettings
from threadline.session.domain.collect_fields import validated_collect_fields
from threadline.session.domain.contact import Contact
from threadline.session.domain.conversation import Conversation
from threadline.session.domain.errors import InvalidConfiguration

NUMBER_A = "109000000000001"
PROMPT = "You are the assistant of Lina's Hair Salon."
FIELDS: list[dict[str, Any]] = [
    {"key": "name", "type": "name", "required": True},
    {"key": "email", "type": "email", "label": "Email for the booking confirmation"},
    {"key": "service", "type": "choice", "options": [{"id": "cut", "title": "Haircut"}, "Colour"]},
]


def everyone(number: str) -> bool:
    return True


def salon(fields: list[dict[str, Any]] | None = None) -> AssistantSettings:
    return AssistantSettings.validated(
        name="salon",
        model="openai:gpt-4.1-mini",
        system_prompt=PROMPT,
        business_numbers=(NUMBER_A,),
        collect_fields_json=json.dumps(fields) if fields is not None else "",
    )


def session_events(app: Conversations) -> list[events_pb.SessionEvent]:
    decoder = SessionEvents(app.mapper)
    return [decoder.decode(record) for record in StoredRecords(app.recorder).after(0, 10_000)]


def test_fields_are_kept_canonical() -> None:
    canonical = json.loads(validated_collect_fields(json.dumps(FIELDS)))

    assert canonical == [
        {"key": "name", "type": "name", "required": True},
        {"key": "email", "type": "email", "label": "Email for the booking confirmation"},
        {
            "key": "service",
            "type": "choice",
            "options": [{"id": "cut", "title": "Haircut"}, {"id": "Colour", "title": "Colour"}],
        },
    ]
    assert validated_collect_fields("[]") == validated_collect_fields("") == ""


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ([{"key": "name"}, {"key": "email", "type": "mail"}], "collect[1].type must be one of"),
        ([{"key": "Email"}], "collect[0].key must be lower_snake_case"),
        ([{"key": "service", "type": "choice"}], "collect[0].options: a choice needs options"),
        ([{"key": "name", "options": ["a"]}], "collect[0].options are only for a choice"),
        ([{"key": "name", "required": "yes"}], "collect[0].required must be true or false"),
        ([{"key": "name", "hint": "x"}], "collect[0] has unknown key(s) ['hint']"),
        ([{"key": "name"}, {"key": "name", "type": "text"}], "collect names a key twice"),
        ({"key": "name"}, "collect must be a list of fields"),
    ],
)
def test_fields_out_of_the_rules_name_the_field(fields: Any, expected: str) -> None:
    with pytest.raises(InvalidConfiguration) as raised:
        salon(fields)

    assert str(raised.value).startswith(expected), str(raised.value)


def test_fields_are_versioned_and_carried_by_the_event(app: Conversations) -> None:
    app.configure_assistant(salon(), everyone)
    changed = app.configure_assistant(salon(FIELDS), everyone)
    reordered = [{key: field[key] for key in reversed(list(field))} for field in FIELDS]
    again = app.configure_assistant(salon(reordered), everyone)

    assert (changed.changed, changed.assistant.version) == (True, 2)
    assert (again.changed, again.assistant.version) == (False, 2)
    configured = [
        e.assistant_configured for e in session_events(app) if e.HasField("assistant_configured")
    ]
    assert configured[0].collect_fields_json == ""
    assert [f["key"] for f in json.loads(configured[1].collect_fields_json)] == [
        "name",
        "email",
        "service",
    ]


def test_an_older_configured_event_reads_back_collecting_nothing() -> None:
    assistant = Assistant("salon")
    assistant._configured(  # as an event stored before the field: it is not given
        name="salon",
        version=1,
        model="offline:faq",
        system_prompt="Hi.",
        language="en",
        reply_delay_seconds=2.0,
        max_context_tokens=8000,
        tools=[],
        business_numbers=[],
    )

    assert assistant.settings().collect_fields_json == ""


# --- the values collected ---------------------------------------------------------------------


def started(
    app: Conversations, inbound: Callable[..., InboundMessage], wa_id: str
) -> ConversationView:
    app.record_facts([inbound(wa_id=wa_id)])
    contact = find_contact(UnitOfWork(app.repository), "pn-1", wa_id, "")
    assert contact is not None and contact.open_conversation_id is not None
    return app.find_conversation(contact.open_conversation_id)


def collected(conversation: ConversationView, event_id: str, **fields: Any) -> CollectedData:
    return CollectedData(
        event_id=event_id, conversation_id=conversation.id, generation_id="gen-1", fields=fields
    )


def test_collected_values_are_recorded_on_the_conversation_and_the_contact(
    app: Conversations, inbound: Callable[..., InboundMessage]
) -> None:
    conversation = started(app, inbound, "15554001")

    app.record_facts([collected(conversation, "collect:gen-1:a", name="Ana", email="a@x.com")])
    app.record_facts([collected(conversation, "collect:gen-2:b", name="Ana", email="ana@x.com")])

    talk: object = app.repository.get(conversation.id)
    assert isinstance(talk, Conversation)
    assert talk.collected_data == {"name": "Ana", "email": "ana@x.com"}
    contact: object = app.repository.get(conversation.contact_id)
    assert isinstance(contact, Contact)
    assert contact.data == {"name": "Ana", "email": "ana@x.com"}
    events = session_events(app)
    on_conversation = [
        json.loads(e.conversation_data_collected.fields_json)
        for e in events
        if e.HasField("conversation_data_collected")
    ]
    on_contact = [
        json.loads(e.contact_data_collected.fields_json)
        for e in events
        if e.HasField("contact_data_collected")
    ]
    # Only the changed keys, each time.
    assert on_conversation == [{"name": "Ana", "email": "a@x.com"}, {"email": "ana@x.com"}]
    assert on_contact == on_conversation
    (event,) = [e for e in events if e.HasField("conversation_data_collected")][:1]
    assert (event.aggregate_type, event.event_type) == (
        "Conversation",
        "Conversation.DataCollected",
    )


def test_a_report_is_recorded_once_by_its_event_id(
    app: Conversations, inbound: Callable[..., InboundMessage]
) -> None:
    conversation = started(app, inbound, "15554002")
    first = collected(conversation, "collect:gen-1:a", email="a@x.com")

    app.record_facts([first])
    app.record_facts([collected(conversation, "collect:gen-2:b", email="b@x.com")])
    app.record_facts([first])  # redelivered after a later report: changes nothing

    talk: object = app.repository.get(conversation.id)
    assert isinstance(talk, Conversation) and talk.collected_data == {"email": "b@x.com"}
    assert talk.data_collections == ["collect:gen-1:a", "collect:gen-2:b"]
    kinds = [e.WhichOneof("body") for e in session_events(app)]
    assert kinds.count("conversation_data_collected") == 2
    assert kinds.count("contact_data_collected") == 2


def test_the_fact_decodes_from_the_ai_event() -> None:
    conversation_id = str(uuid4())
    event = ai_pb2.CustomerDataCollected(
        event_id="collect:gen-1:c1",
        conversation_id=conversation_id,
        fields_json='{"email": "ana@example.com", "name": "Ana"}',
        generation_id="gen-1",
    )

    fact = decode_fact(
        Topology().publish_subject(CUSTOMER_DATA_COLLECTED), event.SerializeToString()
    )

    assert isinstance(fact, CollectedData)
    assert fact == CollectedData(
        event_id="collect:gen-1:c1",
        conversation_id=fact.conversation_id,
        generation_id="gen-1",
        fields={"email": "ana@example.com", "name": "Ana"},
    )
    assert str(fact.conversation_id) == conversation_id


# --- over gRPC --------------------------------------------------------------------------------


@pytest.fixture
async def commands(
    session_config: Callable[..., SessionConfig],
) -> AsyncIterator[pb_grpc.SessionCommandsStub]:
    config = session_config(api_tokens=f"{hash_token('admin')}:read,write,admin:*")
    async with AsyncExitStack() as stack:
        service = await bootstrap(config, stack)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}")
        stack.push_async_callback(channel.close)
        yield pb_grpc.SessionCommandsStub(channel)


async def test_fields_over_grpc_are_kept_or_refused_naming_the_field(
    commands: pb_grpc.SessionCommandsStub,
) -> None:
    metadata = (("authorization", "Bearer admin"),)

    def request(fields: list[dict[str, Any]]) -> pb.ConfigureAssistantRequest:
        return pb.ConfigureAssistantRequest(
            assistant=pb.Assistant(
                name="salon",
                model="openai:gpt-4.1-mini",
                system_prompt=PROMPT,
                business_numbers=[NUMBER_A],
                collect_fields_json=json.dumps(fields),
            )
        )

    kept = await commands.ConfigureAssistant(request(FIELDS), metadata=metadata)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await commands.ConfigureAssistant(
            request([{"key": "name"}, {"key": "email", "type": "mail"}]), metadata=metadata
        )

    assert json.loads(kept.assistant.collect_fields_json)[1]["type"] == "email"
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (raised.value.details() or "").startswith("collect[1].type must be one of")
