"""The session's `EventLog` (gRPC), as a rebuild reads it (`EventSource`, `EventStreams`): the
whole log in order (in pages of `ReadAllPages`), one stream with its positions, and where the
log ends."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from threadline.analytics.application.write.rebuild.ports import StreamNotFound
from threadline.analytics.domain.write.sanitise import clean_event
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc

PAGE_SIZE = 1000  # events per streamed message: gRPC's cost per message is then negligible


def _page(raw: bytes) -> pb.SessionEventPage:
    """A page as the live consumer would read its events: NUL replaced (`sanitise`) unless the
    session says none is there (`nul_free`), or no byte of the page is zero — a NUL's byte,
    but also an empty message's length or a double's byte: searching every string of a
    thousand events costs ~6 µs an event."""
    page = pb.SessionEventPage.FromString(raw)
    if not page.nul_free and b"\x00" in raw:
        for event in page.events:
            clean_event(event)
    return page


def _event(raw: bytes) -> SessionEvent:
    event = SessionEvent.FromString(raw)
    if b"\x00" in raw:
        clean_event(event)
    return event


class EventLogReader:
    def __init__(self, channel: grpc.Channel, token: str, *, page_size: int = PAGE_SIZE) -> None:
        self._stub = pb_grpc.EventLogStub(channel)
        # The generated stub's calls, decoding through `_page` and `_event`.
        self._pages = channel.unary_stream(
            "/threadline.session.v1.EventLog/ReadAllPages",
            request_serializer=pb.ReadAllPagesRequest.SerializeToString,
            response_deserializer=_page,
        )
        self._stream = channel.unary_stream(
            "/threadline.session.v1.EventLog/ReadStream",
            request_serializer=pb.ReadStreamRequest.SerializeToString,
            response_deserializer=_event,
        )
        self._metadata = (("authorization", f"Bearer {token}"),)
        self._page_size = page_size

    def read_all(self, *, after: int = 0, limit: int = 0) -> Iterator[SessionEvent]:
        """The events after position `after`, in order, up to `limit` of them (0: all)."""
        request = pb.ReadAllPagesRequest(
            from_position=after + 1, limit=limit, page_size=self._page_size
        )
        pages: Iterator[pb.SessionEventPage] = self._pages(request, metadata=self._metadata)
        try:
            for page in pages:
                yield from page.events
        finally:
            _cancel(pages)

    def read_stream(self, stream_id: str) -> list[SessionEvent]:
        """One aggregate's events in version order, with their positions in the log."""
        request = pb.ReadStreamRequest(stream_id=stream_id)
        try:
            return list(self._stream(request, metadata=self._metadata))
        except grpc.RpcError as error:
            if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                raise StreamNotFound(f"no stream {stream_id} in the event log") from None
            raise

    def first_from(self, position: int) -> SessionEvent | None:
        """The first event at or after `position`."""
        request = pb.ReadAllRequest(from_position=max(position, 1), limit=1)
        call: Iterator[SessionEvent] = self._stub.ReadAll(request, metadata=self._metadata)
        try:
            return next(call, None)
        finally:
            _cancel(call)

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


def _cancel(call: object) -> None:
    """Stop a streaming call the caller no longer reads (the server stops sending)."""
    cancel = getattr(call, "cancel", None)
    if cancel is not None:
        cancel()
