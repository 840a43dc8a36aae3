"""WhatsApp's throughput limits on sends: per business number, and per customer.

Meta caps each business number at a number of messages per second (80 by default, up to 1,000)
and answers error 130429 past it; it answers 131056 when one number sends one customer too many
messages in a short time (about one every 6 s, with some burst allowed). The sandbox counts the
messages it accepted in a sliding window so outbound's pacing can be tested against both. Both
are off unless configured, so tests and benchmarks that do not ask for them are not slowed.
Read receipts are not messages and are not counted.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Final, Literal, TypeVar

THROUGHPUT_CODE: Final = 130429
PAIR_RATE_CODE: Final = 131056

Refusal = Literal[130429, 131056]

# Pair windows are pruned once this many recipients are tracked, so memory stays bounded.
_PRUNE_AT: Final = 10_000

_Key = TypeVar("_Key")


class Throughput:
    """Admit or refuse each send by the messages accepted in the last second / pair window."""

    def __init__(
        self,
        *,
        per_second: int = 0,
        pair_limit: int = 0,
        pair_window_s: float = 6.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._per_second = per_second
        self._pair_limit = pair_limit
        self._pair_window_s = pair_window_s
        self._clock = clock
        self._numbers: dict[str, deque[float]] = {}
        self._pairs: dict[tuple[str, str], deque[float]] = {}
        self.refused: Counter[int] = Counter()  # sends refused so far, by WhatsApp's code

    def admit(self, phone_number_id: str, wa_id: str) -> Refusal | None:
        """Count a message from `phone_number_id` to `wa_id`, or the error code refusing it."""
        now = self._clock()
        sent = self._recent(self._numbers, phone_number_id, now - 1.0) if self._per_second else None
        if sent is not None and len(sent) >= self._per_second:
            self.refused[THROUGHPUT_CODE] += 1
            return THROUGHPUT_CODE
        pair_sent = None
        if self._pair_limit:
            pair_sent = self._recent(
                self._pairs, (phone_number_id, wa_id), now - self._pair_window_s
            )
            if len(pair_sent) >= self._pair_limit:
                self.refused[PAIR_RATE_CODE] += 1
                return PAIR_RATE_CODE
        if sent is not None:
            sent.append(now)
        if pair_sent is not None:
            pair_sent.append(now)
            if len(self._pairs) > _PRUNE_AT:
                self._prune(now - self._pair_window_s)
        return None

    @staticmethod
    def _recent(windows: dict[_Key, deque[float]], key: _Key, since: float) -> deque[float]:
        window = windows.setdefault(key, deque())
        while window and window[0] <= since:
            window.popleft()
        return window

    def _prune(self, since: float) -> None:
        for key in [
            key for key, window in self._pairs.items() if not window or window[-1] <= since
        ]:
            del self._pairs[key]
