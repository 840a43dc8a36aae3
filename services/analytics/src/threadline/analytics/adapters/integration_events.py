"""The one place the write side reads the session's integration events off NATS: a delivery
of SESSION_EVENTS as the `SessionEvent` it carries (`decode`), and as the live projection
takes it (`delivered`). The gRPC read side's mapping is `inbound/grpc/proto_mapping.py`."""

from __future__ import annotations

from google.protobuf.message import DecodeError

from threadline.analytics.application.write.ports import Delivered
from threadline.analytics.domain.write.sanitise import clean_event
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.messaging.consumer import Delivery
from threadline.messaging.relay import position_of


class UndecodableEvent(ValueError):
    """A message on SESSION_EVENTS that is not a usable `SessionEvent`."""


def decode(delivery: Delivery) -> SessionEvent:
    """The delivery's event, its position taken from the header when the field is unset."""
    event = SessionEvent()
    try:
        event.ParseFromString(delivery.data)
    except DecodeError as error:
        raise UndecodableEvent(f"not a SessionEvent: {error}") from None
    if b"\x00" in delivery.data:  # a string holding NUL holds this byte (rarely anything else)
        clean_event(event)
    if not event.position:
        position = position_of(delivery.headers)
        if not position:
            raise UndecodableEvent("the event carries no position")
        event.position = position
    return event


def delivered(delivery: Delivery) -> Delivered:
    """The delivery as the live projection takes it: decoded, or with why it cannot be."""
    position = position_of(delivery.headers)
    try:
        event = decode(delivery)
    except UndecodableEvent as error:
        return Delivered(delivery.stream_sequence, position, None, str(error))
    return Delivered(delivery.stream_sequence, position, event)
