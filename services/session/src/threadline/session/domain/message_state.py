"""A message's state in its conversation, and the order its statuses move in.

Statuses only move forward: queued → sent → delivered → read (played), or failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

RANK = {"received": 0, "queued": 0, "sent": 1, "delivered": 2, "read": 3, "played": 4}
FINAL = frozenset({"failed"})
INBOUND, OUTBOUND = "in", "out"
RECEIVED, QUEUED, FAILED, DELETED = "received", "queued", "failed", "deleted"


def moves_forward(current: str, reported: str) -> bool:
    """Whether a reported status advances a message; late and repeated reports do not."""
    if current in FINAL:
        return False
    if reported == FAILED:
        # WhatsApp reports a failure only before delivery; a late one cannot undo a delivery.
        return RANK.get(current, 0) < RANK["delivered"]
    if reported not in RANK:
        return False
    return RANK[reported] > RANK.get(current, 0)


def status_rank(status: str) -> int:
    """Order of a status in the forward chain; `failed` sorts last."""
    return RANK.get(status, len(RANK))


@dataclass(frozen=True, slots=True)
class MessageState:
    """One message of a conversation: which way it went, its wamid once known, its status,
    and every status WhatsApp reported for it (late ones too), in the order they came."""

    direction: str  # INBOUND or OUTBOUND
    wamid: str = ""
    status: str = ""
    reported: tuple[str, ...] = ()

    @classmethod
    def received(cls, wamid: str) -> MessageState:
        return cls(INBOUND, wamid, RECEIVED)

    @classmethod
    def queued(cls) -> MessageState:
        return cls(OUTBOUND, "", QUEUED)

    @property
    def is_outbound(self) -> bool:
        return self.direction == OUTBOUND

    @property
    def awaits_dispatch(self) -> bool:
        """Queued, and the Graph API has not named it yet."""
        return self.is_outbound and not self.wamid and self.status == QUEUED

    # The copies below are built directly: `dataclasses.replace` costs several times as much,
    # on the path every status report takes.
    def named(self, wamid: str) -> MessageState:
        return MessageState(self.direction, wamid, self.status, self.reported)

    def with_status(self, status: str) -> MessageState:
        return MessageState(self.direction, self.wamid, status, self.reported)

    def reporting(self, status: str) -> MessageState:
        """With `status` among those reported (an empty status is not kept)."""
        if not status:
            return self
        return MessageState(self.direction, self.wamid, self.status, (*self.reported, status))

    def has_reported(self, status: str) -> bool:
        """Whether `status` is the current one or was reported already. (As the comma-joined
        field this replaces was read: no report yet reads as one empty status.)"""
        return status == self.status or status in (self.reported or ("",))


@dataclass(frozen=True, slots=True)
class HeldStatus:
    """A status that overtook the dispatch result naming its message, held until then."""

    status: str
    reported_at: datetime
    pricing: dict[str, Any]
    errors: list[dict[str, Any]]
