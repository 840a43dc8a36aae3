"""When a message may go: WhatsApp's throughput budget per business number, a pace per
recipient, and how both slow down when Meta says "too fast" and recover afterwards.

Meta caps each business number's sends per second (80 by default, up to 1,000 once raised) and
answers 130429 beyond it; one number may also not send to one user too fast (the pair rate
limit, 131056: bursts are allowed, then about one message every 6 s). Sending faster than the
cap only buys errors, so each send waits for its recipient's turn, then reserves a time of its
number's budget and waits for that:

- the number's budget is a token bucket in its virtual-scheduling form (GCRA): `rate` sends a
  second on average, `burst` of them back to back, reservations handed out in order, so many
  waiting sends never go in a lump; and, since Meta counts sends per second, never more than
  `rate` of them in any `1 + window_margin` seconds (a sliding window over the last `rate`
  reservations: the bucket's burst alone would let `rate + burst - 1` through in one second and
  draw a 130429 from an API counting strictly, which then halved the rate: measured, outbound
  held about half of an 80/s budget that way; `window_margin` absorbs the network's jitter);
- the recipient's pace is a minimum spacing between two sends to the same user (0 by default,
  see `PacingSettings`).

A throttle answer lowers what was exceeded for a while: 130429 sets the number's rate to what
WhatsApp took in the second before (the sends it accepted, less 5 %; the window above then
holds the sends back until the last second has room), or, when that says nothing, halves it
and pauses the number for `pause` (never below `min_rate`) — so a budget configured above
what Meta really allows settles just under the real limit instead of oscillating around half of
it (measured: 200/s configured against 120/s allowed held 92/s with halving alone); 131056
spaces the recipient's sends at least `pair_interval` apart (doubling up to
`max_pair_interval`). Sends reserved before the answer may be throttled too; the rate is lowered
once per `pause`, not once per such answer. After `recover_after` without another throttle the
rate goes up a step (up to the budget: by 10 % when it was learned from what WhatsApp took, so
probing the real limit costs a few refusals, not a second of them; doubled after a halving) and
the recipient's spacing halves, one step at a time.

Pure and synchronous: times are seconds of a monotonic clock the caller passes in.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
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
    window_margin: float = 0.02

    def __post_init__(self) -> None:
        if (
            self.rate <= 0
            or self.burst < 1
            or self.recipient_interval < 0
            or not 0 <= self.window_margin < 1
        ):
            raise ValueError(f"invalid pacing: {self}")


@dataclass(slots=True)
class _Number:
    rate: float
    tat: float  # theoretical arrival time of the next send (GCRA)
    changed_at: float = float("-inf")  # when the rate was last lowered or raised
    recent: deque[float] = field(default_factory=deque)  # the last `rate` reserved times
    accepted: deque[float] = field(default_factory=deque)  # sends WhatsApp took, the last 1 s
    learned: bool = False  # the rate was last lowered to what WhatsApp took: probe up gently


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
        in_window = max(1, int(budget.rate))
        if len(budget.recent) >= in_window:
            at = max(at, budget.recent[-in_window] + 1.0 + self.settings.window_margin)
        budget.recent.append(at)
        while len(budget.recent) > int(self.settings.rate):
            budget.recent.popleft()
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
            took = self._accepted_in_the_last_second(budget, now)
            if now - budget.changed_at >= s.pause:
                lowered = took * 0.95 if took >= 2 else budget.rate / 2
                budget.rate = max(s.min_rate, min(budget.rate / 1.05, lowered))
                budget.changed_at = now
                budget.learned = took >= 2
            if took < 2:  # nothing to learn the limit from: wait before trying again
                budget.tat = max(budget.tat, now + s.pause)
            return
        pace = self._recipient(number, recipient, now)
        if now - pace.changed_at >= pace.interval:
            pace.interval = min(s.max_pair_interval, max(s.pair_interval, pace.interval * 2))
            pace.changed_at = now
        pace.next_at = max(pace.next_at, now + pace.interval)

    def accepted(self, number: str, now: float) -> None:
        """WhatsApp took a send of `number`'s: what a later 130429 learns the real limit from."""
        budget = self._number(number, now)
        budget.accepted.append(now)
        self._accepted_in_the_last_second(budget, now)

    @staticmethod
    def _accepted_in_the_last_second(budget: _Number, now: float) -> int:
        while budget.accepted and budget.accepted[0] <= now - 1.0:
            budget.accepted.popleft()
        return len(budget.accepted)

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
            budget.rate = min(s.rate, budget.rate * (1.1 if budget.learned else 2))
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
