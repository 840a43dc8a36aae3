"""The messages the sandbox has accepted for delivery, kept in memory for tests and demos."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from threadline.sandbox.identifiers import new_wamid


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
    """Accepted messages by business phone number id, in the order they were accepted."""

    def __init__(self) -> None:
        self._by_phone_number: defaultdict[str, list[AcceptedMessage]] = defaultdict(list)

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
        self._by_phone_number[phone_number_id].append(message)
        return message

    def messages(
        self, *, phone_number_id: str | None = None, to: str | None = None
    ) -> list[AcceptedMessage]:
        """Accepted messages, optionally only those from one number and to one recipient."""
        if phone_number_id is None:
            found = [m for ms in self._by_phone_number.values() for m in ms]
            found.sort(key=lambda message: message.accepted_at)
        else:
            found = list(self._by_phone_number.get(phone_number_id, ()))
        return [message for message in found if to is None or message.to == to]
