"""The session's `EventLog` (gRPC), as a replay reads it: the whole log in order, one stream,
where the log ends, and where a stream's events sit in the log.

`ReadStream` returns a stream's events without their global positions (0), but the read models
store positions (messages and response facts are ordered by them); `with_positions` finds them
by reading the log from shortly before the stream's first event until all are seen.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from datetime import timedelta
from queue import Full, Queue
from typing import Protocol

import grpc

from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc

# Events are stored in position order, stamped when their batch was built: a slower writer's
# event can carry an earlier time than one stored before it, by at most a batch's duration.
CLOCK_SKEW = timedelta(minutes=5)


class EventSource(Protocol):
    """What a full replay reads: the log in order, and where it ends."""

    def read_all(self, *, after: int = 0, limit: int = 0) -> Iterator[SessionEvent]: ...

    def head(self, *, at_least: int = 0) -> int: ...


def read_ahead(events: Iterator[SessionEvent], size: int) -> Iterator[list[SessionEvent]]:
    """`events` in lists of `size`, read on a thread of their own while the caller works on
    the previous list (the session keeps sending while a batch is written). At most two
    lists wait; closing the iterator stops the reading."""
    ready: Queue[list[SessionEvent] | BaseException | None] = Queue(maxsize=2)
    stop = threading.Event()

    def put(item: list[SessionEvent] | BaseException | None) -> bool:
        while not stop.is_set():
            with contextlib.suppress(Full):
                ready.put(item, timeout=0.1)
                return True
        return False

    def read() -> None:
        batch: list[SessionEvent] = []
        try:
            for event in events:
                batch.append(event)
                if len(batch) >= size:
                    if not put(batch):
                        return
                    batch = []
            put(batch)
            put(None)
        except BaseException as error:
            put(error)
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()

    reader = threading.Thread(target=read, name="event-log-reader", daemon=True)
    reader.start()
    try:
        while (item := ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join(timeout=5)


class StreamNotFound(LookupError):
    """The log has no stream with this id (or the token may not read it)."""


class EventLogReader:
    def __init__(self, channel: grpc.Channel, token: str) -> None:
        self._stub = pb_grpc.EventLogStub(channel)
        self._metadata = (("authorization", f"Bearer {token}"),)

    def read_all(self, *, after: int = 0, limit: int = 0) -> Iterator[SessionEvent]:
        """The events after position `after`, in order, up to `limit` of them (0: all)."""
        request = pb.ReadAllRequest(from_position=after + 1, limit=limit)
        calls: Iterator[SessionEvent] = self._stub.ReadAll(request, metadata=self._metadata)
        try:
            yield from calls
        finally:
            cancel = getattr(calls, "cancel", None)
            if cancel is not None:
                cancel()

    def read_stream(self, stream_id: str) -> list[SessionEvent]:
        """One aggregate's events in version order (positions unset)."""
        request = pb.ReadStreamRequest(stream_id=stream_id)
        try:
            return list(self._stub.ReadStream(request, metadata=self._metadata))
        except grpc.RpcError as error:
            if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                raise StreamNotFound(f"no stream {stream_id} in the event log") from None
            raise

    def first_from(self, position: int) -> SessionEvent | None:
        """The first event at or after `position`."""
        return next(self.read_all(after=max(position, 1) - 1, limit=1), None)

    def head(self, *, at_least: int = 0) -> int:
        """The position of the log's last event (0 for an empty log), found by probing:
        doubling steps past `at_least` (a position known to exist), then halving."""
        last = at_least
        step = max(1024, at_least)
        while (found := self.first_from(last + step)) is not None:
            last, step = found.position, step * 2
        bound = last + step  # nothing at or after it
        while bound - last > 1:
            middle = (last + bound) // 2
            found = self.first_from(middle)
            if found is None:
                bound = middle
            else:
                last = found.position
        return last

    def with_positions(self, stream: Sequence[SessionEvent]) -> list[SessionEvent]:
        """The stream's events carrying their positions in the log."""
        if not stream:
            return []
        start = self._position_before(stream[0], head=self.head())
        located = self._locate(stream, after=start)
        if located is None and start > 0:
            located = self._locate(stream, after=0)  # the clocks were further apart
        if located is None:
            raise StreamNotFound(f"events of {stream[0].aggregate_id} are missing from the log")
        return located

    def _position_before(self, first: SessionEvent, *, head: int) -> int:
        """A position before the stream's first event: the last one found stamped more than
        `CLOCK_SKEW` earlier (positions and times rise together, up to that skew)."""
        moment = first.occurred_at.ToDatetime() - CLOCK_SKEW
        before, bound = 0, head + 1
        while bound - before > 1:
            middle = (before + bound) // 2
            found = self.first_from(middle)
            if found is None or found.occurred_at.ToDatetime() >= moment:
                bound = middle
            else:
                before = found.position
        return before

    def _locate(self, stream: Sequence[SessionEvent], *, after: int) -> list[SessionEvent] | None:
        wanted = {event.event_id: event for event in stream}
        positions: dict[str, int] = {}
        for event in self.read_all(after=after):
            if event.event_id in wanted:
                positions[event.event_id] = event.position
                if len(positions) == len(wanted):
                    break
        if len(positions) < len(wanted):
            return None
        located = []
        for event in stream:
            copy = SessionEvent()
            copy.CopyFrom(event)
            copy.position = positions[event.event_id]
            located.append(copy)
        return located
