"""How the conversation's value types are written in its snapshots (eventsourcing's JSON
transcoder; registered by `Conversations`). Events hold only plain values: these never appear
in a stored event, so the relay's quick decoder never meets them."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Transcoding

from threadline.session.domain.message_state import HeldStatus, MessageState


class MessageStateAsDict(Transcoding):
    type = MessageState
    name = "session_message_state"

    def encode(self, obj: MessageState) -> dict[str, Any]:
        return {
            "direction": obj.direction,
            "wamid": obj.wamid,
            "status": obj.status,
            "reported": list(obj.reported),
        }

    def decode(self, data: dict[str, Any]) -> MessageState:
        return MessageState(
            direction=data["direction"],
            wamid=data["wamid"],
            status=data["status"],
            reported=tuple(data["reported"]),
        )


class HeldStatusAsDict(Transcoding):
    type = HeldStatus
    name = "session_held_status"

    def encode(self, obj: HeldStatus) -> dict[str, Any]:
        return {
            "status": obj.status,
            "reported_at": obj.reported_at,
            "pricing": obj.pricing,
            "errors": obj.errors,
        }

    def decode(self, data: dict[str, Any]) -> HeldStatus:
        return HeldStatus(
            status=data["status"],
            reported_at=data["reported_at"],
            pricing=data["pricing"],
            errors=data["errors"],
        )


TRANSCODINGS: tuple[Transcoding, ...] = (MessageStateAsDict(), HeldStatusAsDict())
