"""What the burst scheduler needs from outside: a durable, shared store of bursts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from threadline.ai_responder.domain.burst import Burst


@dataclass(frozen=True, slots=True)
class StoredBurst:
    """A burst as the store holds it, with the revision every change is compared against."""

    burst: Burst
    revision: int

    @property
    def key(self) -> str:
        return self.burst.conversation_id


class BurstStore(Protocol):
    """Bursts by conversation id; every change is a compare-and-set on the key's revision."""

    async def add_message(
        self,
        conversation_id: str,
        message_id: str,
        at: datetime,
        *,
        delay: timedelta,
        max_wait: timedelta,
    ) -> StoredBurst:
        """Start or extend the conversation's burst (a message already held is a no-op);
        returns once the store keeps it."""
        ...

    async def read(self, conversation_id: str) -> StoredBurst | None:
        """The conversation's burst as stored, or None."""
        ...

    async def pending(self) -> list[StoredBurst]:
        """Every burst with messages waiting for an answer (due or not, claimed or not)."""
        ...

    async def claim(self, stored: StoredBurst, owner: str, now: datetime) -> StoredBurst | None:
        """The burst claimed by `owner`, or None when it changed since it was read."""
        ...

    async def still_current(self, claimed: StoredBurst) -> bool:
        """Nothing changed since the claim (no message arrived, nobody took it over)."""
        ...

    async def finish(self, claimed: StoredBurst) -> None:
        """The claimed burst's messages were answered: forget them (messages that arrived
        meanwhile stay for the next round)."""
        ...

    async def release(self, claimed: StoredBurst) -> None:
        """Give the claim up when unchanged (the responder is stopping mid-generation), so
        another responder answers at once instead of after the lease."""
        ...
