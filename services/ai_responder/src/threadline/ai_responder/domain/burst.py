"""A burst: the customer messages of one conversation that the assistant answers at once.

After a customer message the assistant waits `delay`, restarting the wait on each new message,
but never longer than `max_wait` after the first: `due_at`. Then one responder claims the burst
and generates one answer covering every message in it. A message arriving meanwhile drops the
claim (the running generation is stale) and the burst waits again, now covering it too.

A message's moment is when the stream stored it, so that responders hearing a conversation's
messages at different times (several share the work, each with its own backlog) agree on it;
the burst is answered once every message stored before `due_at` has been heard (`is_due`'s
`heard_until`).

Pure: every moment is a parameter. Kept durably by the burst store, so restarts and several
responders share it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

DEFAULT_DELAY = timedelta(seconds=2)
DEFAULT_MAX_WAIT = timedelta(seconds=10)
# Longer than any model call: a responder that died mid-generation is replaced after it.
DEFAULT_LEASE = timedelta(seconds=60)
MAX_MESSAGES = 20  # a burst remembers its last messages only
MAX_ANSWERED = 50  # answered ids kept, so a redelivered message is not answered again


@dataclass(frozen=True, slots=True)
class Pending:
    """A message waiting for the answer, and when the responder heard of it."""

    message_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Claim:
    """Who is generating the answer, since when, and which generation of the burst it is."""

    owner: str
    claimed_at: datetime
    generation: int

    def expired(self, now: datetime, lease: timedelta) -> bool:
        return now >= self.claimed_at + lease


@dataclass(frozen=True, slots=True)
class Burst:
    conversation_id: str
    pending: tuple[Pending, ...] = ()
    first_at: datetime | None = None  # when the wait began (the first pending message)
    delay: timedelta = DEFAULT_DELAY
    max_wait: timedelta = DEFAULT_MAX_WAIT
    claim: Claim | None = None
    generations: int = 0  # claims so far
    answered: tuple[str, ...] = ()  # the last message ids answered

    @classmethod
    def start(
        cls,
        conversation_id: str,
        *,
        delay: timedelta = DEFAULT_DELAY,
        max_wait: timedelta = DEFAULT_MAX_WAIT,
    ) -> Burst:
        """An empty burst: nothing waits yet."""
        return cls(conversation_id=conversation_id, delay=delay, max_wait=max_wait)

    @property
    def message_ids(self) -> tuple[str, ...]:
        """The messages the answer covers, in the order the stream stored them."""
        return tuple(message.message_id for message in self.pending)

    @property
    def last_at(self) -> datetime | None:
        return self.pending[-1].at if self.pending else None

    @property
    def due_at(self) -> datetime | None:
        """When to answer: the delay after the last message, capped by the maximum wait."""
        if not self.pending or self.first_at is None:
            return None
        return min(self.pending[-1].at + self.delay, self.first_at + self.max_wait)

    def holds(self, message_id: str) -> bool:
        """Whether the message waits in this burst or was answered already."""
        return message_id in self.answered or any(
            message.message_id == message_id for message in self.pending
        )

    def with_message(self, message_id: str, at: datetime) -> Burst:
        """The burst with one more message: the wait restarts and a running claim is stale.

        A message it already holds (a redelivery) changes nothing."""
        if self.holds(message_id):
            return self
        # In the order the stream stored them: several responders may hear them out of it.
        pending = tuple(sorted((*self.pending, Pending(message_id, at)), key=_stored))
        pending = pending[-MAX_MESSAGES:]
        first_at = at if not self.pending or self.first_at is None else min(self.first_at, at)
        return replace(self, pending=pending, first_at=first_at, claim=None)

    def is_due(
        self,
        now: datetime,
        lease: timedelta = DEFAULT_LEASE,
        *,
        heard_until: datetime | None = None,
    ) -> bool:
        """Due, and nobody is generating its answer (or whoever was has outlived the lease).

        `heard_until`: the moment before which every customer message sent has been heard
        (by this responder or another); until it passes `due_at`, a message the customer sent
        within the wait may still be on its way, and the burst waits for it."""
        due_at = self.due_at
        if due_at is None or now < due_at:
            return False
        if heard_until is not None and heard_until < due_at:
            return False
        return self.claim is None or self.claim.expired(now, lease)

    def claimed(self, owner: str, now: datetime) -> Burst:
        generation = self.generations + 1
        return replace(self, claim=Claim(owner, now, generation), generations=generation)

    def released(self) -> Burst:
        """The claim given up (the answer failed): the burst is due again."""
        return replace(self, claim=None)

    def answered_with(self, message_ids: tuple[str, ...]) -> Burst:
        """The burst once an answer covering `message_ids` went out.

        Messages that arrived meanwhile stay pending, their wait starting from the earliest."""
        covered = set(message_ids)
        pending = tuple(message for message in self.pending if message.message_id not in covered)
        answered = (*self.answered, *(i for i in message_ids if i not in self.answered))
        return replace(
            self,
            pending=pending,
            first_at=min((message.at for message in pending), default=None),
            claim=None,
            answered=answered[-MAX_ANSWERED:],
        )


def _stored(message: Pending) -> datetime:
    return message.at
