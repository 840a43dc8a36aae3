"""Every stored event has a place in the published contract."""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from threadline.session.adapters.integration_events.event_bodies import BODIES
from threadline.session.domain.api_token import ApiToken
from threadline.session.domain.assistant import Assistant
from threadline.session.domain.business_number import BusinessNumber
from threadline.session.domain.contact import Contact, ContactKey
from threadline.session.domain.conversation import Conversation
from threadline.session.domain.flow import Flow
from threadline.session.domain.webhook_subscription import WebhookSubscription

AGGREGATES = (
    Contact,
    ContactKey,
    Conversation,
    BusinessNumber,
    Assistant,
    Flow,
    WebhookSubscription,
    ApiToken,
)


def test_every_domain_event_maps_to_a_session_event_body() -> None:
    events = {
        f"{aggregate.__name__}.{name}"
        for aggregate in AGGREGATES
        for name, value in vars(aggregate).items()
        if isinstance(value, type)
        and issubclass(value, Aggregate.Event)
        and name not in {"Event", "Created"}
    }

    assert events - set(BODIES) == set()
    assert set(BODIES) - events == set()


def test_every_subject_a_narrowed_consumer_asks_for_is_an_event_the_session_publishes() -> None:
    """A consumer bound to named event types (`Durable.only`, NATS 2.10+) would silently miss
    an event whose name it got wrong: each named one is published (a `>` names an aggregate
    type), and each lies within the consumer's own filter (its fallback before NATS 2.10)."""
    from threadline.messaging.topology import DURABLES, SESSION_EVENTS
    from threadline.testing.subjects import subject_matches

    narrowed = [d for d in DURABLES if d.stream == SESSION_EVENTS and d.only]
    assert narrowed, "no consumer of the session's events is narrowed"
    for durable in narrowed:
        for subject in durable.only:
            assert any(subject_matches(subject, published) for published in BODIES), subject
            assert subject_matches(durable.filter, subject.replace(">", "Any")), subject
