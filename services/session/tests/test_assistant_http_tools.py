"""An assistant's HTTP tools (issue 12 item 2): checked by the session with the field at fault
named, kept canonical (the same tools in another key order are no new version), versioned with
the rest of the assistant, carried on `AssistantConfigured`, and refused over gRPC with
INVALID_ARGUMENT."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import grpc
import pytest

from threadline.contracts.events.v1 import session_pb2 as events_pb
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.servicekit.auth import hash_token
from threadline.session.adapters.integration_events.session_events import SessionEvents
from threadline.session.adapters.outbound.stored_records import StoredRecords
from threadline.session.application.conversations import Conversations
from threadline.session.bootstrap import bootstrap
from threadline.session.config import SessionConfig
from threadline.session.domain.assistant import AssistantSettings
from threadline.session.domain.errors import InvalidConfiguration
from threadline.session.domain.http_tools import validated_http_tools

NUMBER_A = "109000000000001"
PROMPT = "You are the assistant of Lina's Hair Salon. Be brief and friendly."


def everyone(number: str) -> bool:
    return True


def session_events(app: Conversations) -> list[events_pb.SessionEvent]:
    decoder = SessionEvents(app.mapper)
    return [decoder.decode(record) for record in StoredRecords(app.recorder).after(0, 1000)]


def booking(**changes: Any) -> dict[str, Any]:
    tool: dict[str, Any] = {
        "name": "book_appointment",
        "description": "Book an appointment at the salon.",
        "parameters": {
            "type": "object",
            "properties": {
                "service": {"type": "string", "enum": ["cut", "colour"]},
                "date": {"type": "string"},
            },
            "required": ["service", "date"],
        },
        "method": "POST",
        "url": "https://salon.example/api/bookings",
        "headers": {"Authorization": "Bearer ${SALON_API_TOKEN}"},
    }
    return tool | changes


def salon(*tools: dict[str, Any]) -> AssistantSettings:
    return AssistantSettings.validated(
        name="salon",
        model="openai:gpt-4.1-mini",
        system_prompt=PROMPT,
        business_numbers=(NUMBER_A,),
        http_tools_json=json.dumps(list(tools)) if tools else "",
    )


def test_a_tool_is_kept_canonical_with_its_defaults() -> None:
    kept = json.loads(salon(booking()).http_tools_json)

    assert kept == [
        booking(timeout_seconds=10.0, mutating=True),
    ]
    lookup = booking(name="opening_hours", method="get", url="https://salon.example/hours/{date}")
    assert json.loads(validated_http_tools(json.dumps([lookup])))[0]["mutating"] is False


@pytest.mark.parametrize(
    ("tool", "expected"),
    [
        ({"name": "Book!"}, "http_tools[0].name must be"),
        ({"name": "reply"}, "http_tools[0].name 'reply' is one of the platform's own"),
        ({"url": "ftp://salon.example/x"}, "http_tools[0].url must be an http(s) URL"),
        ({"url": "https://{date}.example/x"}, "http_tools[0].url must not take its host"),
        ({"url": "https://salon.example/{when}"}, "http_tools[0].url names {when}"),
        ({"parameters": {"type": "array"}}, "http_tools[0].parameters must be a JSON schema"),
        (
            {"parameters": {"type": "object", "properties": {"n": {"type": "text"}}}},
            "http_tools[0].parameters.properties.n.type must be one of",
        ),
        (
            {"headers": {"Authorization": "Bearer sk-live-0123456789abcdefghij"}},
            "http_tools[0].headers.Authorization holds a secret inline",
        ),
        (
            {"headers": {"X-Api-Key": "0123456789abcdefghij ${SALON_API_TOKEN}"}},
            "http_tools[0].headers.X-Api-Key holds a secret inline",
        ),
        ({"timeout_seconds": 0}, "http_tools[0].timeout_seconds must be"),
        ({"timeout_seconds": 31}, "http_tools[0].timeout_seconds must be"),
        ({"method": "TRACE"}, "http_tools[0].method must be one of"),
        ({"mutating": "yes"}, "http_tools[0].mutating must be true or false"),
        ({"surprise": 1}, "http_tools[0] has unknown key(s) ['surprise']"),
    ],
)
def test_a_tool_out_of_its_rules_names_the_field(tool: dict[str, Any], expected: str) -> None:
    with pytest.raises(InvalidConfiguration) as raised:
        salon(booking(**tool))

    assert str(raised.value).startswith(expected), str(raised.value)


def test_two_tools_of_one_name_are_refused() -> None:
    with pytest.raises(InvalidConfiguration, match="names a tool twice"):
        salon(booking(), booking())


def test_tools_are_versioned_with_the_assistant_and_carried_by_its_event(
    app: Conversations,
) -> None:
    app.configure_assistant(salon(), everyone)
    changed = app.configure_assistant(salon(booking()), everyone)
    reordered = json.loads(json.dumps(booking()), object_pairs_hook=lambda p: dict(reversed(p)))
    again = app.configure_assistant(salon(reordered), everyone)

    assert (changed.changed, changed.assistant.version) == (True, 2)
    assert (again.changed, again.assistant.version) == (False, 2)
    configured = [
        e.assistant_configured for e in session_events(app) if e.HasField("assistant_configured")
    ]
    assert configured[0].http_tools_json == ""
    assert json.loads(configured[-1].http_tools_json)[0]["name"] == "book_appointment"
    assert "${SALON_API_TOKEN}" in configured[-1].http_tools_json


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


async def test_tools_over_grpc_are_kept_or_refused_naming_the_field(
    commands: pb_grpc.SessionCommandsStub,
) -> None:
    metadata = (("authorization", "Bearer admin"),)

    def request(*tools: dict[str, Any]) -> pb.ConfigureAssistantRequest:
        return pb.ConfigureAssistantRequest(
            assistant=pb.Assistant(
                name="salon",
                model="openai:gpt-4.1-mini",
                system_prompt=PROMPT,
                business_numbers=[NUMBER_A],
                http_tools_json=json.dumps(list(tools)),
            )
        )

    kept = await commands.ConfigureAssistant(request(booking()), metadata=metadata)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await commands.ConfigureAssistant(
            request(booking(url="https://salon.example/{nope}")), metadata=metadata
        )

    assert json.loads(kept.assistant.http_tools_json)[0]["timeout_seconds"] == 10.0
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (raised.value.details() or "").startswith("http_tools[0].url names {nope}")
