"""When a message may go: WhatsApp's throughput budget per business number, a pace per
recipient, and how both slow down when Meta says "too fast" and recover afterwards.

Meta caps each business number's sends per second (80 by default, up to 1,000 once raised) and
answers 130429 beyond it; one number may also not send to one user too fast (the pair rate
limit, 131056: bursts are allowed, then about one message every 6 s). Sending faster than the
cap only buys errors, so each send waits for its recipient's turn, then reserves a time of its
number's budget and waits for that:

- the number's budget is a token bucket in its virtual-scheduling form (GCRA): `rate` sends a
  second on average, `burst` of them back to back, reservations handed out in order, so many
  waiting sends never go in a lump;
- the recipient's pace is a minimum spacing between two sends to the same user (0 by default,
  see `PacingSettings`).

A throttle answer lowers what was exceeded for a while: 130429 halves the number's rate (never
below `min_rate`) and pauses it for `pause`; 131056 spaces the recipient's sends at least
`pair_interval` apart (doubling up to `max_pair_interval`). Sends reserved before the answer
may be throttled too; the rate is lowered once per `pause`, not once per such answer. After
`recover_after` without another throttle each step is undone, one halving at a time.

Pure and synchronous: times are seconds of a monotonic clock the caller passes in.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class ThrottleScope(Enum):
    """What WhatsApp said was too fast."""

    NUMBER = "number"  # 130429: the business number's throughput
    RECIPIENT = "recipient"  # 131056: the number's sends to one user (pair rate limit)


@dataclass(frozen=True, slots=True)
class PacingSettings:
    """`rate` sends a second per business number, `burst` of them at once; at least
    `recipient_interval` seconds between two sends to one user (the rest: how a throttle
    slows down and recovers)."""

    rate: float = 80.0
    burst: int = 10
    recipient_interval: float = 0.0
    min_rate: float = 1.0
    pause: float = 1.0
    recover_after: float = 10.0
    pair_interval: float = 1.0
    max_pair_interval: float = 6.0

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1 or self.recipient_interval < 0:
            raise ValueError(f"invalid pacing: {self}")


@dataclass(slots=True)
class _Number:
    rate: float
    tat: float  # theoretical arrival time of the next send (GCRA)
    changed_at: float = float("-inf")  # when the rate was last lowered or raised


@dataclass(slots=True)
class _Recipient:
    interval: float
    next_at: float
    changed_at: float = float("-inf")


class Pacer:
    """Reservations of send times per business number and recipient."""

    _PRUNE_EVERY = 4096  # reservations between two sweeps of recipients with nothing to keep

    def __init__(self, settings: PacingSettings) -> None:
        self.settings = settings
        self._numbers: dict[str, _Number] = {}
        self._recipients: dict[tuple[str, str], _Recipient] = {}
        self._since_prune = 0

    def recipient_wait(self, number: str, recipient: str, now: float) -> float:
        """The seconds until `number` may send to `recipient` again (0: now); reserves nothing.

        Waited out before `reserve`, so a recipient being spaced out never holds its number's
        budget (which would delay every other recipient's sends)."""
        return max(0.0, self._recipient(number, recipient, now).next_at - now)

    def reserve(self, number: str, recipient: str, now: float) -> float:
        """Take the next send slot of `number` for a send to `recipient`, whose own turn has
        come (`recipient_wait`); the seconds to wait for the slot."""
        budget = self._number(number, now)
        interval = 1.0 / budget.rate
        at = max(now, budget.tat - (self.settings.burst - 1) * interval)
        budget.tat = max(budget.tat, at) + interval
        pace = self._recipient(number, recipient, now)
        pace.next_at = max(pace.next_at, at + pace.interval)
        self._since_prune += 1
        if self._since_prune >= self._PRUNE_EVERY:
            self._prune(now)
        return at - now

    def throttled(self, number: str, recipient: str, scope: ThrottleScope, now: float) -> None:
        """WhatsApp answered `scope` was too fast: slow it down for a while."""
        s = self.settings
        if scope is ThrottleScope.NUMBER:
            budget = self._number(number, now)
            if now - budget.changed_at >= s.pause:
                budget.rate = max(s.min_rate, budget.rate / 2)
                budget.changed_at = now
            budget.tat = max(budget.tat, now + s.pause)
            return
        pace = self._recipient(number, recipient, now)
        if now - pace.changed_at >= pace.interval:
            pace.interval = min(s.max_pair_interval, max(s.pair_interval, pace.interval * 2))
            pace.changed_at = now
        pace.next_at = max(pace.next_at, now + pace.interval)

    def rate(self, number: str, now: float) -> float:
        """The sends a second `number` is allowed now."""
        return self._number(number, now).rate

    def recipient_interval(self, number: str, recipient: str, now: float) -> float:
        """The seconds between two sends from `number` to `recipient` now."""
        return self._recipient(number, recipient, now).interval

    def _number(self, number: str, now: float) -> _Number:
        s = self.settings
        budget = self._numbers.get(number)
        if budget is None:
            budget = self._numbers[number] = _Number(rate=s.rate, tat=now)
        while budget.rate < s.rate and now - budget.changed_at >= s.recover_after:
            budget.rate = min(s.rate, budget.rate * 2)
            budget.changed_at += s.recover_after
        return budget

    def _recipient(self, number: str, recipient: str, now: float) -> _Recipient:
        s = self.settings
        key = (number, recipient)
        pace = self._recipients.get(key)
        if pace is None:
            pace = self._recipients[key] = _Recipient(interval=s.recipient_interval, next_at=now)
        while pace.interval > s.recipient_interval and now - pace.changed_at >= s.recover_after:
            halved = pace.interval / 2
            pace.interval = halved if halved >= s.pair_interval else s.recipient_interval
            pace.changed_at += s.recover_after
        return pace

    def _prune(self, now: float) -> None:
        """Forget recipients whose state says nothing more than the defaults would."""
        self._since_prune = 0
        base = self.settings.recipient_interval
        idle = [
            key
            for key, pace in self._recipients.items()
            if pace.next_at <= now and pace.interval <= base
        ]
        for key in idle:
            del self._recipients[key]
