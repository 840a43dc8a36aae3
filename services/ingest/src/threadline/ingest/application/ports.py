"""What the intake needs from outside: somewhere to keep bodies, facts and dead letters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from threadline.ingest.domain.facts import ParsedFact


class NotAcknowledged(Exception):
    """What was published was not acknowledged as kept; the webhook must be retried."""


class UnencodableFact(Exception):
    """A fact could not be encoded for publishing (a bug, met by this webhook); none of the
    webhook's facts was published."""


class WebhookPublisher(Protocol):
    """Keeps what ingest received; every method raises `NotAcknowledged` when it was not kept.

    The same body, fact or dead letter published twice is kept once (a webhook delivered again
    publishes the same ids)."""

    async def keep_raw(
        self, body: bytes, phone_number_id: str | None, received_at: datetime
    ) -> None:
        """Keep the body as received, under its business number (None: not known)."""
        ...

    async def publish_facts(self, facts: Sequence[ParsedFact]) -> int:
        """Publish the facts together, in order; how many of them were already kept.

        Raises `UnencodableFact` before publishing any when one cannot be encoded."""
        ...

    async def dead_letter(
        self, body: bytes, phone_number_id: str | None, *, slug: str, reason: str
    ) -> None:
        """Keep the body as a dead letter of kind `slug`, with `reason`."""
        ...
