"""The event store's notification log, read as the relay's outbox.

A stored event that cannot be turned into a message (a topic this code no longer knows, a
state it cannot decode) still becomes a record, marked with its problem: the relay
dead-letters it visibly and goes on, instead of failing on it forever and publishing nothing
after it for anyone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from threadline.messaging.failures import describe
from threadline.messaging.relay import OutboxRead, OutboxRecord
from threadline.messaging.topology import UNREADABLE_SESSION_EVENT, Topology
from threadline.rules.partitions import conversation_slot
from threadline.session.adapters.integration_events.session_events import SessionEvents, event_id
from threadline.session.adapters.outbound.stored_records import Record, StoredRecords
from threadline.session.application.conversations import Conversations

log = logging.getLogger(__name__)

TOPIC = "Threadline-Stored-Topic"


class StoredEvents:
    """Stored events after a position, as records ready to publish to SESSION_EVENTS: all of
    them, or with several partitions those of `partition` (its aggregates': the slot their
    ids carry)."""

    def __init__(self, app: Conversations, topology: Topology, partition: int = 0) -> None:
        self._records = StoredRecords(app.recorder)
        self._events = SessionEvents(app.mapper)
        self._topology = topology
        self._partition = partition

    def read_after(self, position: int, limit: int) -> Sequence[OutboxRecord] | OutboxRead:
        if self._topology.partitions == 1:
            return [self._record(record) for record in self._records.after(position, limit)]
        records, reached = self._records.after_in(
            position, limit, self._partition, self._topology.partitions
        )
        return OutboxRead([self._record(record) for record in records], reached)

    def _record(self, record: Record) -> OutboxRecord:
        try:
            return self._events.outbox_record(record, self._topology)
        except Exception as error:
            position, originator_id, version, topic, state = record
            log.exception("stored event at position %d cannot be read", position)
            return OutboxRecord(
                position=position,
                subject=self._topology.publish_subject(
                    UNREADABLE_SESSION_EVENT, slot=conversation_slot(originator_id)
                ),
                payload=bytes(state),
                msg_id=event_id(originator_id, version),
                headers={TOPIC: topic[:500]},
                problem=f"cannot read the stored event: {describe(error)}",
            )
