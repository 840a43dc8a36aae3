"""Assistants: configuration with history (issue 10, item 1). Every real change is a new
version and an event; the same configuration again changes nothing; a number is served by at
most one assistant; a token acts only on its numbers. Over the application, then over real
gRPC, NATS and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import replace
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
from threadline.session.domain.errors import (
    InvalidConfiguration,
    NumbersNotCovered,
    NumberTaken,
)

NUMBER_A, NUMBER_B = "109000000000001", "109000000000002"
PROMPT = "You are the assistant of Lina's Hair Salon. Be brief and friendly."


def salon(**changes: Any) -> AssistantSettings:
    given: dict[str, Any] = {
        "name": "salon",
        "model": "openai:gpt-4.1-mini",
        "system_prompt": PROMPT,
        "language": "en",
        "business_numbers": (NUMBER_A,),
    }
    return AssistantSettings.validated(**(given | changes))


def everyone(number: str) -> bool:
    return True


def session_events(app: Conversations) -> list[events_pb.SessionEvent]:
    decoder = SessionEvents(app.mapper)
    return [decoder.decode(record) for record in StoredRecords(app.recorder).after(0, 1000)]


def test_an_assistant_is_created_at_version_1_with_the_defaults(app: Conversations) -> None:
    outcome = app.configure_assistant(salon(), everyone)

    assert (outcome.created, outcome.changed, outcome.assistant.version) == (True, True, 1)
    settings = outcome.assistant.settings
    assert settings.reply_delay_seconds == 2.0 and settings.max_context_tokens == 8000
    assert settings.business_numbers == (NUMBER_A,)


def test_the_same_configuration_again_is_a_no_op(app: Conversations) -> None:
    app.configure_assistant(salon(), everyone)
    stored = len(session_events(app))

    outcome = app.configure_assistant(salon(), everyone)

    assert (outcome.created, outcome.changed, outcome.assistant.version) == (False, False, 1)
    assert len(session_events(app)) == stored


def test_each_real_change_is_a_new_version_carried_by_its_event(app: Conversations) -> None:
    app.configure_assistant(salon(), everyone)

    outcome = app.configure_assistant(salon(system_prompt="Be terse."), everyone)

    assert (outcome.changed, outcome.assistant.version) == (True, 2)
    configured = [e for e in session_events(app) if e.HasField("assistant_configured")]
    assert [e.assistant_configured.version for e in configured] == [1, 2]
    latest = configured[-1]
    assert latest.event_type == "Assistant.Configured" and latest.aggregate_type == "Assistant"
    assert latest.assistant_configured.system_prompt == "Be terse."
    assert latest.assistant_configured.model == "openai:gpt-4.1-mini"
    assert list(latest.assistant_configured.business_numbers) == [NUMBER_A]


def test_numbers_are_assigned_and_released_on_the_numbers_themselves(app: Conversations) -> None:
    app.configure_assistant(salon(business_numbers=(NUMBER_A, NUMBER_B)), everyone)

    app.configure_assistant(salon(business_numbers=(NUMBER_B,)), everyone)

    assigned = [
        (e.assistant_assigned.phone_number_id, e.assistant_assigned.assistant)
        for e in session_events(app)
        if e.HasField("assistant_assigned")
    ]
    assert assigned == [(NUMBER_A, "salon"), (NUMBER_B, "salon"), (NUMBER_A, "")]
    # The released number may now serve another assistant.
    other = app.configure_assistant(salon(name="clinic", business_numbers=(NUMBER_A,)), everyone)
    assert other.created


def test_a_number_is_served_by_at_most_one_assistant(app: Conversations) -> None:
    app.configure_assistant(salon(), everyone)

    with pytest.raises(NumberTaken, match=f"{NUMBER_A} is served by assistant 'salon'"):
        app.configure_assistant(salon(name="clinic"), everyone)
    assert [a.settings.name for a in app.assistants(None)] == ["salon"]


def test_a_caller_acts_only_on_the_numbers_it_covers(app: Conversations) -> None:
    app.configure_assistant(salon(business_numbers=(NUMBER_A, NUMBER_B)), everyone)

    with pytest.raises(NumbersNotCovered, match=NUMBER_B):
        app.configure_assistant(salon(business_numbers=(NUMBER_A,)), lambda n: n == NUMBER_A)
    assert app.assistants(frozenset({NUMBER_A}))[0].settings.business_numbers == (
        NUMBER_A,
        NUMBER_B,
    )


def test_listing_shows_the_assistants_of_the_callers_numbers(app: Conversations) -> None:
    app.configure_assistant(salon(), everyone)
    app.configure_assistant(salon(name="clinic", business_numbers=(NUMBER_B,)), everyone)
    app.configure_assistant(salon(name="idle", business_numbers=()), everyone)

    assert [a.settings.name for a in app.assistants(None)] == ["clinic", "idle", "salon"]
    assert [a.settings.name for a in app.assistants(frozenset({NUMBER_B}))] == ["clinic"]
    assert app.assistants(frozenset({"109999"})) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"name": "Salon!"}, "name must be"),
        ({"model": "gpt-4.1-mini"}, "model must be provider:model"),
        ({"model": "mistral:large"}, "model must be of a known provider"),
        ({"system_prompt": " "}, "system_prompt is required"),
        ({"system_prompt": "é" * 20_001}, "system_prompt is too long: 20001 code points"),
        ({"language": "english"}, "language must be"),
        ({"reply_delay_seconds": 61.0}, "reply_delay_seconds must be from 0 to 60"),
        ({"reply_delay_seconds": -1.0}, "reply_delay_seconds must be from 0 to 60"),
        ({"max_context_tokens": 10}, "max_context_tokens must be from 256"),
        ({"tools": ("Hand off",)}, "tools[0] must be"),
        ({"tools": ("hand_off", "hand_off")}, "tools lists a value twice"),
        ({"business_numbers": ("+1 555",)}, "business_numbers[0] must be"),
    ],
)
def test_a_configuration_out_of_its_rules_names_the_field(
    changes: dict[str, Any], expected: str
) -> None:
    with pytest.raises(InvalidConfiguration) as raised:
        salon(**changes)

    assert str(raised.value).startswith(expected)


def test_the_offline_assistant_may_be_named_offline_alone() -> None:
    assert salon(model="offline").model == "offline"
    assert salon(model="offline:threadline-offline-1").model == "offline:threadline-offline-1"
    with pytest.raises(InvalidConfiguration, match=r"provider:model, e\.g\. .*, or offline"):
        salon(model="openai")


def test_a_prompt_of_20000_code_points_and_no_delay_are_accepted() -> None:
    settings = salon(system_prompt="🙂" * 20_000, reply_delay_seconds=0.0)

    assert settings.reply_delay_seconds == 0.0
    assert replace(settings, reply_delay_seconds=2.0) == salon(system_prompt="🙂" * 20_000)


# Over gRPC -----------------------------------------------------------------------------

TOKENS = {
    "admin": "read,write,admin:*",
    "tenant-a": f"read,write,admin:{NUMBER_A}",
    "reader-a": f"read:{NUMBER_A}",
}


def auth(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


@pytest.fixture
async def commands(
    session_config: Callable[..., SessionConfig],
) -> AsyncIterator[pb_grpc.SessionCommandsStub]:
    config = session_config(
        api_tokens=";".join(f"{hash_token(name)}:{grant}" for name, grant in TOKENS.items())
    )
    async with AsyncExitStack() as stack:
        service = await bootstrap(config, stack)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}")
        stack.push_async_callback(channel.close)
        yield pb_grpc.SessionCommandsStub(channel)


def request(**changes: Any) -> pb.ConfigureAssistantRequest:
    given: dict[str, Any] = {
        "name": "salon",
        "model": "openai:gpt-4.1-mini",
        "system_prompt": PROMPT,
        "business_numbers": [NUMBER_A],
    }
    delay = changes.pop("reply_delay_seconds", None)
    return pb.ConfigureAssistantRequest(
        assistant=pb.Assistant(**(given | changes), reply_delay_seconds=delay or 0.0),
        reply_delay_set=delay is not None,
    )


async def refusal(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value


async def test_configure_and_list_over_grpc(commands: pb_grpc.SessionCommandsStub) -> None:
    first = await commands.ConfigureAssistant(request(), metadata=auth("tenant-a"))
    again = await commands.ConfigureAssistant(request(), metadata=auth("tenant-a"))
    changed = await commands.ConfigureAssistant(
        request(reply_delay_seconds=0.0), metadata=auth("tenant-a")
    )

    assert (first.created, first.changed, first.assistant.version) == (True, True, 1)
    assert (again.created, again.changed, again.assistant.version) == (False, False, 1)
    assert (changed.changed, changed.assistant.version) == (True, 2)
    assert changed.assistant.reply_delay_seconds == 0.0
    listed = await commands.ListAssistants(pb.ListAssistantsRequest(), metadata=auth("reader-a"))
    assert [(a.name, a.version, a.language) for a in listed.assistants] == [("salon", 2, "en")]


async def test_grpc_refusals_name_what_is_wrong(commands: pb_grpc.SessionCommandsStub) -> None:
    invalid = await refusal(
        commands.ConfigureAssistant(request(model="llama3.2"), metadata=auth("admin"))
    )
    not_admin = await refusal(commands.ConfigureAssistant(request(), metadata=auth("reader-a")))
    other_number = await refusal(
        commands.ConfigureAssistant(request(business_numbers=[NUMBER_B]), metadata=auth("tenant-a"))
    )
    await commands.ConfigureAssistant(request(), metadata=auth("admin"))
    taken = await refusal(
        commands.ConfigureAssistant(request(name="clinic"), metadata=auth("admin"))
    )

    assert invalid.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (invalid.details() or "").startswith("model must be provider:model")
    assert not_admin.code() == grpc.StatusCode.PERMISSION_DENIED
    assert other_number.code() == grpc.StatusCode.PERMISSION_DENIED
    assert NUMBER_B in (other_number.details() or "")
    assert taken.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "served by assistant 'salon'" in (taken.details() or "")


async def test_listing_is_scoped_to_the_callers_numbers(
    commands: pb_grpc.SessionCommandsStub,
) -> None:
    await commands.ConfigureAssistant(request(), metadata=auth("admin"))
    await commands.ConfigureAssistant(
        request(name="clinic", business_numbers=[NUMBER_B]), metadata=auth("admin")
    )

    every = await commands.ListAssistants(pb.ListAssistantsRequest(), metadata=auth("admin"))
    mine = await commands.ListAssistants(pb.ListAssistantsRequest(), metadata=auth("tenant-a"))
    one = await commands.ListAssistants(
        pb.ListAssistantsRequest(phone_number_id=NUMBER_B), metadata=auth("admin")
    )
    foreign = await refusal(
        commands.ListAssistants(
            pb.ListAssistantsRequest(phone_number_id=NUMBER_B), metadata=auth("tenant-a")
        )
    )

    assert [a.name for a in every.assistants] == ["clinic", "salon"]
    assert [a.name for a in mine.assistants] == ["salon"]
    assert [a.name for a in one.assistants] == ["clinic"]
    assert foreign.code() == grpc.StatusCode.PERMISSION_DENIED
