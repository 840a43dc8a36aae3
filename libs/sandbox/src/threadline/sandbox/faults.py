"""Faults a test asks for: the next sends to a customer answered with Graph's transient error
(HTTP 500, code 2 "Service temporarily unavailable") instead of being accepted, so a sender's
retries can be watched against the real protocol."""

from __future__ import annotations

from collections import Counter


class SendFaults:
    """How many of the next sends to each customer (`wa_id`) fail."""

    def __init__(self) -> None:
        self._pending: Counter[str] = Counter()

    def fail_next(self, wa_id: str, times: int = 1) -> None:
        """Answer the next `times` sends to `wa_id` with a 500."""
        self._pending[wa_id] += times

    def take(self, wa_id: str) -> bool:
        """Whether this send to `wa_id` fails (counting it)."""
        if self._pending[wa_id] <= 0:
            return False
        self._pending[wa_id] -= 1
        return True
