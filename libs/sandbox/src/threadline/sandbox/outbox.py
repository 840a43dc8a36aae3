"""What the customers see of the businesses, kept in memory for tests and demos: the messages the
sandbox accepted for delivery, and the read receipts (each maybe with "typing…") it took.

Both carry one `sequence`, counted in the order the sandbox took them, so a test can tell what
a customer saw first (`Outbox.timeline`): "typing…" before the reply, or the reply alone.

Only the latest ones are kept (10,000 messages and as many read receipts by default): a sandbox
left running under load must not grow without bound.
"""

from __future__ import annotations

import itertools
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
    sequence: int = 0  # its place among everything the outbox took

    @property
    def quoted_wamid(self) -> str:
        """The message it quotes, as the customer sees it above the reply
        (`context.message_id`); "" when it quotes none."""
        context = self.request.get("context")
        found = context.get("message_id") if isinstance(context, Mapping) else None
        return found if isinstance(found, str) else ""

    def to_json(self) -> dict[str, object]:
        """The message as `GET /sandbox/messages` lists it."""
        return {
            "phone_number_id": self.phone_number_id,
            "wamid": self.wamid,
            "to": self.to,
            "accepted_at": _json_time(self.accepted_at),
            "sequence": self.sequence,
            "quotes": self.quoted_wamid,
            "request": dict(self.request),
        }


@dataclass(frozen=True, kw_only=True)
class ReadReceipt:
    """A customer's message marked read by the business, with "typing…" when `typing`.

    `to` is the customer who wrote `message_id` when the sandbox knows (they wrote through it),
    else empty: a webhook posted straight to the platform leaves the sandbox no trace.
    """

    phone_number_id: str
    message_id: str
    to: str
    typing: bool
    request: Mapping[str, object]
    received_at: datetime
    sequence: int = 0

    def to_json(self) -> dict[str, object]:
        """The receipt as `GET /sandbox/read_receipts` lists it."""
        return {
            "phone_number_id": self.phone_number_id,
            "message_id": self.message_id,
            "to": self.to,
            "typing": self.typing,
            "received_at": _json_time(self.received_at),
            "sequence": self.sequence,
            "request": dict(self.request),
        }


class Outbox:
    """The last `limit` accepted messages and the last `limit` read receipts, each in the order
    they were taken; older ones dropped."""

    def __init__(self, limit: int = DEFAULT_OUTBOX_LIMIT) -> None:
        if limit < 1:
            raise ValueError(f"the outbox must keep at least one message, got {limit}")
        self._messages: deque[AcceptedMessage] = deque(maxlen=limit)
        self._by_wamid: dict[str, AcceptedMessage] = {}
        self._receipts: deque[ReadReceipt] = deque(maxlen=limit)
        self._sequence = itertools.count(1)
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
            sequence=next(self._sequence),
        )
        if len(self._messages) == self.limit:
            if self._dropped == 0:
                log.info("outbox holds %d messages: dropping the oldest from now on", self.limit)
            self._dropped += 1
            self._by_wamid.pop(self._messages[0].wamid, None)
        self._messages.append(message)
        self._by_wamid[message.wamid] = message
        return message

    def mark_read(
        self, phone_number_id: str, message_id: str, request: Mapping[str, object], *, to: str = ""
    ) -> ReadReceipt:
        """Record a valid read receipt (with "typing…" when the request asks for it)."""
        receipt = ReadReceipt(
            phone_number_id=phone_number_id,
            message_id=message_id,
            to=to,
            typing="typing_indicator" in request,
            request=request,
            received_at=datetime.now(UTC),
            sequence=next(self._sequence),
        )
        self._receipts.append(receipt)
        return receipt

    def accepted_since(self, sequence: int) -> list[AcceptedMessage]:
        """The kept messages accepted after `sequence`, oldest first: read from the newest
        back, so a caller following the outbox pays for what is new, not for all it keeps."""
        newer: list[AcceptedMessage] = []
        for message in reversed(self._messages):
            if message.sequence <= sequence:
                break
            newer.append(message)
        newer.reverse()
        return newer

    def sent(self, wamid: str) -> AcceptedMessage | None:
        """The kept message the sandbox accepted as `wamid`, if any."""
        return self._by_wamid.get(wamid)

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

    def read_receipts(
        self,
        *,
        phone_number_id: str | None = None,
        to: str | None = None,
        message_id: str | None = None,
    ) -> list[ReadReceipt]:
        """Kept read receipts, optionally only those from one number, to one customer, or of
        one message."""
        return [
            receipt
            for receipt in self._receipts
            if (phone_number_id is None or receipt.phone_number_id == phone_number_id)
            and (to is None or receipt.to == to)
            and (message_id is None or receipt.message_id == message_id)
        ]

    def timeline(
        self, *, phone_number_id: str | None = None, to: str | None = None
    ) -> list[AcceptedMessage | ReadReceipt]:
        """Messages and read receipts together, in the order the sandbox took them."""
        both: list[AcceptedMessage | ReadReceipt] = [
            *self.messages(phone_number_id=phone_number_id, to=to),
            *self.read_receipts(phone_number_id=phone_number_id, to=to),
        ]
        return sorted(both, key=lambda entry: entry.sequence)


def _json_time(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
