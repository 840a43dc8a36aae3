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
