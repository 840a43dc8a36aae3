"""The messages the sandbox has accepted for delivery, kept in memory for tests and demos.

Only the latest ones are kept (10,000 by default): a sandbox left running under load must not
grow without bound.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from threadline.sandbox.identifiers import new_wamid

log = logging.getLogger(__name__)

DEFAULT_OUTBOX_LIMIT: Final = 10_000


@dataclass(frozen=True, kw_only=True)
class AcceptedMessage:
    """One send-message request the sandbox accepted, with the id it was given."""

    phone_number_id: str
    wamid: str
    to: str
    request: Mapping[str, object]
    accepted_at: datetime
    trace_headers: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """The message as `GET /sandbox/messages` lists it."""
        return {
            "phone_number_id": self.phone_number_id,
            "wamid": self.wamid,
            "to": self.to,
            "accepted_at": self.accepted_at.isoformat().replace("+00:00", "Z"),
            "request": dict(self.request),
        }


class Outbox:
    """The last `limit` accepted messages, in the order they were accepted; older ones dropped."""

    def __init__(self, limit: int = DEFAULT_OUTBOX_LIMIT) -> None:
        if limit < 1:
            raise ValueError(f"the outbox must keep at least one message, got {limit}")
        self._messages: deque[AcceptedMessage] = deque(maxlen=limit)
        self._dropped = 0

    @property
    def limit(self) -> int:
        """How many messages are kept at most."""
        return self._messages.maxlen or 0

    @property
    def dropped(self) -> int:
        """How many messages were dropped, oldest first, to stay within the limit."""
        return self._dropped

    def accept(
        self,
        phone_number_id: str,
        to: str,
        request: Mapping[str, object],
        *,
        trace_headers: Mapping[str, str] | None = None,
    ) -> AcceptedMessage:
        """Record a valid request and give it a fresh wamid."""
        message = AcceptedMessage(
            phone_number_id=phone_number_id,
            wamid=new_wamid(),
            to=to,
            request=request,
            accepted_at=datetime.now(UTC),
            trace_headers=dict(trace_headers or {}),
        )
        if len(self._messages) == self.limit:
            if self._dropped == 0:
                log.info("outbox holds %d messages: dropping the oldest from now on", self.limit)
            self._dropped += 1
        self._messages.append(message)
        return message

    def messages(
        self, *, phone_number_id: str | None = None, to: str | None = None
    ) -> list[AcceptedMessage]:
        """Kept messages, optionally only those from one number and to one recipient."""
        return [
            message
            for message in self._messages
            if (phone_number_id is None or message.phone_number_id == phone_number_id)
            and (to is None or message.to == to)
        ]
