"""Message statuses only move forward: queued → sent → delivered → read (played), or failed."""

from __future__ import annotations

RANK = {"received": 0, "queued": 0, "sent": 1, "delivered": 2, "read": 3, "played": 4}
FINAL = frozenset({"failed"})


def moves_forward(current: str, reported: str) -> bool:
    """Whether a reported status advances a message; late and repeated reports do not."""
    if current in FINAL:
        return False
    if reported == "failed":
        # WhatsApp reports a failure only before delivery; a late one cannot undo a delivery.
        return RANK.get(current, 0) < RANK["delivered"]
    if reported not in RANK:
        return False
    return RANK[reported] > RANK.get(current, 0)


def status_rank(status: str) -> int:
    """Order of a status in the forward chain; `failed` sorts last."""
    return RANK.get(status, len(RANK))
