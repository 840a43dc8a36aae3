"""Stored events → `SessionEvent` protos, published on the topology's `SESSION_EVENT` route
(`<Aggregate>.<Event>` under the session's stream).

Records are decoded without building domain event objects (`event_state`); a record the quick
path cannot decode exactly, or an event class that upcasts, goes through the library's mapper.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import resolve_topic

from threadline.contracts.events.v1 import session_pb2 as pb
from threadline.messaging.relay import OutboxRecord
from threadline.messaging.topology import SESSION_EVENT, Topology
from threadline.rules.partitions import conversation_slot, partition_of
from threadline.session.adapters.integration_events.event_bodies import (
    BODIES,
    Body,
    Fields,
    set_time,
)
from threadline.session.adapters.outbound.event_state import StateReader, quick_path_applies
from threadline.session.adapters.outbound.stored_records import Record
from threadline.session.domain.identity import NAMESPACE

log = logging.getLogger(__name__)
_NAMESPACE_HASH = hashlib.sha1(NAMESPACE.bytes, usedforsecurity=False)
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


@dataclass(frozen=True, slots=True)
class EventKind:
    aggregate: str
    name: str
    event_type: str  # "Aggregate.Event"
    body: Body | None
    upcasts: bool  # its stored states are upcast by the library's mapper


def event_kind(cls: type[object]) -> EventKind:
    aggregate, name = cls.__qualname__.split(".")[-2:]
    event_type = f"{aggregate}.{name}"
    body = BODIES.get(event_type)
    if body is None:
        # Still published (the subject names it, positions stay whole); a unit test keeps
        # every domain event mapped, so this is a bug to fix, not a state to live with.
        log.error("no SessionEvent body for %s", event_type)
    return EventKind(aggregate, name, event_type, body, getattr(cls, "class_version", 1) != 1)


def event_id(originator_id: str, version: int) -> str:
    """`str(uuid5(NAMESPACE, f"event:{originator_id}:{version}"))`, for the id as text."""
    digest = _NAMESPACE_HASH.copy()
    digest.update(f"event:{originator_id}:{version}".encode())
    h = digest.hexdigest()
    # The first 16 bytes, with version 5 and the RFC 4122 variant set, as `uuid5` does.
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def fill(
    event: pb.SessionEvent,
    kind: EventKind,
    fields: Fields,
    position: int,
    originator_id: str,
    version: int,
) -> None:
    """Sets the envelope and body of an empty `event` (built in place: a page's events then
    share its arena and are not copied into it)."""
    event.event_id = event_id(originator_id, version)
    event.position = position
    event.aggregate_type = kind.aggregate
    event.aggregate_id = originator_id
    event.aggregate_version = version
    event.event_type = kind.event_type
    set_time(event.occurred_at, fields.get("timestamp"))
    if kind.body is not None:
        kind.body(fields, event)


class SessionEvents:
    """Turns stored records of one application into `SessionEvent`s and outbox records."""

    def __init__(self, mapper: Mapper[UUID]) -> None:
        self._mapper = mapper
        self._quick = quick_path_applies(mapper)
        self._kinds: dict[str, tuple[EventKind, StateReader | None]] = {}
        self._subjects: dict[tuple[Topology, str, int], str] = {}

    def decode(self, record: Record) -> pb.SessionEvent:
        event = pb.SessionEvent()
        self.decode_into(record, event)
        return event

    def nul_free(self, records: Sequence[Record]) -> bool:
        """Whether no string of the events `records` become holds NUL (U+0000). Every string
        of an event but its ids and type names comes from the record's state, which is JSON
        text when the quick path applies, and JSON writes NUL as the escape `\\u0000`: none
        there, none in the event (a text holding a backslash and `u0000` reads as one too:
        only a needless check follows). False when the states are not plain JSON."""
        # One search over the states joined (the escape cannot straddle two: each state is
        # a JSON object, and a match there would only cost a needless check).
        return self._quick and b"\\u0000" not in b"".join([record[4] for record in records])

    def outbox_record(self, record: Record, topology: Topology) -> OutboxRecord:
        event = pb.SessionEvent()
        kind, trace = self.decode_into(record, event)
        return OutboxRecord(
            position=record[0],
            subject=self._subject(topology, kind, record[1]),
            payload=event.SerializeToString(),
            msg_id=event.event_id,
            headers={"traceparent": trace} if trace else {},
        )

    def _subject(self, topology: Topology, kind: EventKind, originator_id: str) -> str:
        """The event's subject; with several partitions, in its aggregate's (the slot its id
        carries), as the relay of that partition publishes it."""
        slot = 0 if topology.partitions == 1 else conversation_slot(originator_id)
        key = (topology, kind.event_type, partition_of(slot, topology.partitions))
        subject = self._subjects.get(key)
        if subject is None:
            subject = topology.publish_subject(
                SESSION_EVENT, slot=slot, aggregate=kind.aggregate, event=kind.name
            )
            self._subjects[key] = subject
        return subject

    def decode_into(self, record: Record, event: pb.SessionEvent) -> tuple[EventKind, Any]:
        """Fills the empty `event`; the record's kind and the trace it was recorded under."""
        position, originator_id, version, topic, state = record
        known = self._kinds.get(topic)
        if known is None:
            known = self._kinds[topic] = self._kind(topic)
        kind, reader = known
        fields = None if reader is None else reader.fields(state)
        if fields is None:
            stored = StoredEvent(UUID(originator_id), version, topic, state)
            fields = vars(self._mapper.to_domain_event(stored))
        fill(event, kind, fields, position, originator_id, version)
        return kind, fields.get("trace", "")

    def _kind(self, topic: str) -> tuple[EventKind, StateReader | None]:
        """The event type of a topic, and its quick reader unless the library must decode."""
        kind = event_kind(resolve_topic(topic))
        return kind, StateReader() if self._quick and not kind.upcasts else None
