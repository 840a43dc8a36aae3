"""An assistant's knowledge bases (issue 12 item 1): names checked by the session (the field at
fault named), versioned with the rest of the assistant, carried on `AssistantConfigured`, and an
event stored before the field existed reads back with none."""

from __future__ import annotations

import pytest

from threadline.contracts.events.v1 import session_pb2 as events_pb
from threadline.session.adapters.integration_events.session_events import SessionEvents
from threadline.session.adapters.outbound.stored_records import StoredRecords
from threadline.session.application.conversations import Conversations
from threadline.session.domain.assistant import Assistant, AssistantSettings
from threadline.session.domain.errors import InvalidConfiguration

NUMBER_A = "109000000000001"


def everyone(number: str) -> bool:
    return True


def salon(*knowledge_bases: str) -> AssistantSettings:
    return AssistantSettings.validated(
        name="salon",
        model="offline:faq",
        system_prompt="You are the assistant of Lina's Hair Salon.",
        business_numbers=(NUMBER_A,),
        knowledge_bases=knowledge_bases,
    )


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (("",), "knowledge_bases[0] must be"),
        (("salon", "Salon FAQ"), "knowledge_bases[1] must be"),
        (("x" * 65,), "knowledge_bases[0] must be"),
        (("salon", "salon"), "knowledge_bases lists a value twice"),
        (tuple(f"kb{i}" for i in range(17)), "knowledge_bases has too many items"),
    ],
)
def test_names_out_of_the_rules_are_refused(names: tuple[str, ...], expected: str) -> None:
    with pytest.raises(InvalidConfiguration) as raised:
        salon(*names)

    assert str(raised.value).startswith(expected), str(raised.value)


def test_knowledge_bases_are_versioned_and_carried_by_the_event(app: Conversations) -> None:
    app.configure_assistant(salon(), everyone)
    changed = app.configure_assistant(salon("salon-faq", "prices"), everyone)
    again = app.configure_assistant(salon("salon-faq", "prices"), everyone)

    assert (changed.changed, changed.assistant.version) == (True, 2)
    assert (again.changed, again.assistant.version) == (False, 2)
    decoder = SessionEvents(app.mapper)
    events: list[events_pb.SessionEvent] = [
        decoder.decode(record) for record in StoredRecords(app.recorder).after(0, 1000)
    ]
    configured = [e.assistant_configured for e in events if e.HasField("assistant_configured")]
    assert [list(c.knowledge_bases) for c in configured] == [[], ["salon-faq", "prices"]]


def test_an_older_configured_event_reads_back_with_no_knowledge_bases() -> None:
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

    assert assistant.settings().knowledge_bases == ()
