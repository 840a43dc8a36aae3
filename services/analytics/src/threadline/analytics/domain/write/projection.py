"""The read-model projection: what each session event means for the read models.

Pure: events in, `Changes` out. One function per event body, chosen through a table keyed by
the body's name; bodies the projection does not use (and bodies newer than this code) change
nothing, yet their positions still count as projected.

Left out on purpose (`IGNORED`): `contact_conversation_opened` (the conversation names its
contact) and `early_status_held` (the session applies a held status later, as
`message_status_changed`).
"""

from __future__ import annotations

from collections.abc import Iterable

from threadline.analytics.domain.write.changes import Changes
from threadline.analytics.domain.write.positions import Positions
from threadline.analytics.domain.write.projectors import (
    attachments,
    business_numbers,
    contacts,
    conversations,
    messages,
    statuses,
    tool_calls,
    transcripts,
)
from threadline.analytics.domain.write.projectors.common import EventProjector
from threadline.analytics.domain.write.rates import EXAMPLE_RATES, Rates
from threadline.contracts.events.v1.session_pb2 import SessionEvent

PROJECTION = "conversations"
# The assistants' events (issue 10) are not projected yet: analytics' own view of them is to come.
IGNORED = frozenset(
    {
        "contact_conversation_opened",
        "early_status_held",
        "assistant_registered",
        "assistant_configured",
        "assistant_assigned",
        # Flows' definitions (issue 12): configuration, not conversations; the flows a
        # conversation runs reach analytics as FlowStepReached.
        "flow_configured",
        # Managed API tokens (issue 13): every process's token registry follows them itself.
        "api_token_issued",
        "api_token_revoked",
        # Outgoing webhook subscriptions (issue 13): configuration the gateway's delivery keeps.
        "webhook_subscription_configured",
    }
)

_PROJECTORS: dict[str, EventProjector] = {
    **contacts.PROJECTORS,
    **business_numbers.PROJECTORS,
    **conversations.PROJECTORS,
    **messages.PROJECTORS,
    **statuses.PROJECTORS,
    **attachments.PROJECTORS,
    **transcripts.PROJECTORS,
    **tool_calls.PROJECTORS,
}


def project(events: Iterable[SessionEvent], *, rates: Rates = EXAMPLE_RATES) -> Changes:
    """Fold `events`, in the order given, into the changes they make, priced with `rates`."""
    changes = Changes(rates=rates)
    for event in events:
        body = event.WhichOneof("body")
        projector = _PROJECTORS.get(body) if body else None
        if projector is not None:
            projector(event, changes)
    return changes


def projected_bodies() -> frozenset[str]:
    """The event bodies that change the read models."""
    return frozenset(_PROJECTORS)


def unseen(events: Iterable[SessionEvent], *, after: Positions) -> list[SessionEvent]:
    """The events past `after` in their partitions, in position order, each position once."""
    fresh: list[SessionEvent] = []
    reached = list(after.values)
    for event in sorted(events, key=lambda e: e.position):
        k = after.partition(event)
        if event.position > reached[k]:
            fresh.append(event)
            reached[k] = event.position
    return fresh
