"""The event store's notification log, read as the relay's outbox."""

from __future__ import annotations

from collections.abc import Sequence

from threadline.messaging.relay import OutboxRecord
from threadline.messaging.topology import Topology
from threadline.session.application.conversations import Conversations
from threadline.session.integration_events import SessionEvents
from threadline.session.stored_records import StoredRecords


class StoredEvents:
    """Stored events after a position, as records ready to publish to SESSION_EVENTS."""

    def __init__(self, app: Conversations, topology: Topology) -> None:
        self._records = StoredRecords(app.recorder)
        self._events = SessionEvents(app.mapper)
        self._topology = topology

    def read_after(self, position: int, limit: int) -> Sequence[OutboxRecord]:
        return [
            self._events.outbox_record(record, self._topology)
            for record in self._records.after(position, limit)
        ]
