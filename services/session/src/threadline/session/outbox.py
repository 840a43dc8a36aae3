"""The event store's notification log, read as the relay's outbox."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from threadline.messaging.relay import OutboxRecord
from threadline.messaging.topology import Topology
from threadline.session.application.conversations import Conversations
from threadline.session.integration_events import to_outbox_record


class StoredEvents:
    """Stored events after a position, as records ready to publish to SESSION_EVENTS."""

    def __init__(self, app: Conversations, topology: Topology) -> None:
        self._app = app
        self._recorder = app.recorder
        self._topology = topology

    def read_after(self, position: int, limit: int) -> Sequence[OutboxRecord]:
        notifications = self._recorder.select_notifications(
            start=position, limit=limit, inclusive_of_start=False
        )
        return [
            to_outbox_record(self._domain_event(n), n.id, self._topology) for n in notifications
        ]

    def _domain_event(self, stored: Any) -> Any:
        return self._app.mapper.to_domain_event(stored)
