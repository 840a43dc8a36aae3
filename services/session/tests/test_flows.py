"""Flows: definitions with history (issue 12, item 3). A definition is checked with the shared
parser (a mistake named by its path); every real change is a new version and a `FlowConfigured`
event; the same definition again, however written, changes nothing; a token acts only on its
numbers. Over the application, then over real gRPC, NATS and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
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
from threadline.session.domain.errors import InvalidConfiguration, NumbersNotCovered
from threadline.session.domain.flow import FlowSettings

NUMBER_A, NUMBER_B = "109000000000001", "109000000000002"
SALON_FILE = Path(__file__).resolve().parents[3] / "examples" / "salon" / "booking-flow.yaml"
SALON = SALON_FILE.read_text(encoding="utf-8")
GREET = """\
id: greet
name: Greet
business_numbers: ["{number}"]
trigger: {{keywords: [hello]}}
steps:
  - id: ask
    ask: {{field: name, type: name, prompt: "Your name?"}}
  - id: done
    end: {{text: "Hello, {{name}}!"}}
"""


def greet(number: str = NUMBER_A) -> FlowSettings:
    return FlowSettings.from_text(GREET.format(number=number))


def everyone(number: str) -> bool:
    return True


def flow_events(app: Conversations) -> list[events_pb.SessionEvent]:
    decoder = SessionEvents(app.mapper)
    found = [decoder.decode(record) for record in StoredRecords(app.recorder).after(0, 1000)]
    return [event for event in found if event.WhichOneof("body") == "flow_configured"]


def test_the_salon_flow_is_created_at_version_1_and_published_whole(app: Conversations) -> None:
    outcome = app.configure_flow(FlowSettings.from_text(SALON), everyone, True)

    assert (outcome.created, outcome.changed, outcome.flow.version) == (True, True, 1)
    settings = outcome.flow.settings
    assert (settings.id, settings.name, settings.definition_version) == (
        "salon-booking",
        "Book an appointment",
        1,
    )
    assert settings.trigger_kinds == ("keyword", "button_payload", "assistant")
    assert settings.business_numbers == ()
    [event] = flow_events(app)
    assert event.event_type == "Flow.Defined"
    assert (event.flow_configured.id, event.flow_configured.version) == ("salon-booking", 1)
    assert event.flow_configured.definition_json == settings.definition_json


def test_the_same_definition_written_differently_is_a_no_op(app: Conversations) -> None:
    app.configure_flow(FlowSettings.from_text(SALON), everyone, True)
    commented = "# the same flow, another comment\n" + SALON.replace("version: 1", "version:  1")

    outcome = app.configure_flow(FlowSettings.from_text(commented), everyone, True)

    assert (outcome.created, outcome.changed, outcome.flow.version) == (False, False, 1)
    assert len(flow_events(app)) == 1


def test_each_real_change_is_a_new_version_carried_by_its_event(app: Conversations) -> None:
    app.configure_flow(greet(), everyone, True)

    outcome = app.configure_flow(
        FlowSettings.from_text(GREET.format(number=NUMBER_A).replace("Hello,", "Hi,")),
        everyone,
        True,
    )

    assert (outcome.changed, outcome.flow.version) == (True, 2)
    last = flow_events(app)[-1]
    assert last.event_type == "Flow.Redefined"
    assert (last.flow_configured.id, last.flow_configured.version) == ("greet", 2)
    assert "Hi, {name}!" in last.flow_configured.definition_json


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (SALON.replace("next: booked", "next: bookd"), "steps[6].next: unknown step"),
        (SALON.replace("after: 30m", "after: soon"), "expiry.after: 'soon' is not a duration"),
        (SALON.replace("id: salon-booking", "id: Salon Booking"), "id: 'Salon Booking'"),
        (GREET.format(number="+1 555"), "business_numbers[0]: must be a phone_number_id"),
        ("id: [unclosed", "not YAML or JSON"),
    ],
)
def test_a_definition_out_of_its_rules_names_the_path(text: str, expected: str) -> None:
    with pytest.raises(InvalidConfiguration) as raised:
        FlowSettings.from_text(text)

    assert str(raised.value).startswith(f"flow definition: {expected}")


def test_a_caller_acts_only_on_the_numbers_it_covers(app: Conversations) -> None:
    def only_a(number: str) -> bool:
        return number == NUMBER_A

    app.configure_flow(greet(NUMBER_A), only_a, False)

    with pytest.raises(NumbersNotCovered, match=NUMBER_B):
        app.configure_flow(greet(NUMBER_B), only_a, False)
    with pytest.raises(NumbersNotCovered, match=r"flow 'salon-booking'.*\*"):
        app.configure_flow(FlowSettings.from_text(SALON), only_a, False)


def test_listing_shows_the_flows_of_the_callers_numbers_and_those_on_every_number(
    app: Conversations,
) -> None:
    app.configure_flow(FlowSettings.from_text(SALON), everyone, True)
    app.configure_flow(greet(NUMBER_B), everyone, True)

    assert [f.settings.id for f in app.flows(None)] == ["greet", "salon-booking"]
    assert [f.settings.id for f in app.flows(frozenset({NUMBER_A}))] == ["salon-booking"]
    assert [f.settings.id for f in app.flows(frozenset({NUMBER_B}))] == ["greet", "salon-booking"]


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


async def refusal(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value


async def test_configure_and_list_over_grpc(commands: pb_grpc.SessionCommandsStub) -> None:
    salon = pb.ConfigureFlowRequest(definition=SALON)
    first = await commands.ConfigureFlow(salon, metadata=auth("admin"))
    again = await commands.ConfigureFlow(salon, metadata=auth("admin"))
    mine = await commands.ConfigureFlow(
        pb.ConfigureFlowRequest(definition=GREET.format(number=NUMBER_A)),
        metadata=auth("tenant-a"),
    )

    assert (first.created, first.changed, first.flow.version) == (True, True, 1)
    assert (again.created, again.changed, again.flow.version) == (False, False, 1)
    assert (mine.created, mine.flow.id, list(mine.flow.business_numbers)) == (
        True,
        "greet",
        [NUMBER_A],
    )
    listed = await commands.ListFlows(pb.ListFlowsRequest(), metadata=auth("reader-a"))
    assert [(f.id, f.version, list(f.trigger_kinds)) for f in listed.flows] == [
        ("greet", 1, ["keyword", "assistant"]),
        ("salon-booking", 1, ["keyword", "button_payload", "assistant"]),
    ]


async def test_grpc_refusals_name_what_is_wrong(commands: pb_grpc.SessionCommandsStub) -> None:
    broken = SALON.replace("next: booked", "next: bookd")
    invalid = await refusal(
        commands.ConfigureFlow(pb.ConfigureFlowRequest(definition=broken), metadata=auth("admin"))
    )
    not_admin = await refusal(
        commands.ConfigureFlow(
            pb.ConfigureFlowRequest(definition=GREET.format(number=NUMBER_A)),
            metadata=auth("reader-a"),
        )
    )
    every_number = await refusal(
        commands.ConfigureFlow(pb.ConfigureFlowRequest(definition=SALON), metadata=auth("tenant-a"))
    )

    assert invalid.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (invalid.details() or "").startswith(
        "flow definition: steps[6].next: unknown step 'bookd'"
    )
    assert not_admin.code() == grpc.StatusCode.PERMISSION_DENIED
    assert every_number.code() == grpc.StatusCode.PERMISSION_DENIED
