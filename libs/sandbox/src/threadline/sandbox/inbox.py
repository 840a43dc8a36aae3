"""The messages customers wrote through the sandbox (`POST /sandbox/customers/{wa_id}/messages`):
which business number each went to, and who wrote it.

Read receipts look them up: a receipt names only the message, and the sandbox shows it to the
customer who wrote it, and refuses one sent from a number the message never reached. Only the
latest ones are kept (as many as the outbox keeps).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from threadline.sandbox.outbox import DEFAULT_OUTBOX_LIMIT


@dataclass(frozen=True, kw_only=True)
class CustomerMessage:
    """Customer `wa_id` wrote message `wamid` to business number `phone_number_id`."""

    wamid: str
    phone_number_id: str
    wa_id: str


class Inbox:
    """The last `limit` customer messages, by wamid."""

    def __init__(self, limit: int = DEFAULT_OUTBOX_LIMIT) -> None:
        if limit < 1:
            raise ValueError(f"the inbox must keep at least one message, got {limit}")
        self._limit = limit
        self._messages: OrderedDict[str, CustomerMessage] = OrderedDict()

    def record(self, wamid: str, *, phone_number_id: str, wa_id: str) -> CustomerMessage:
        """Remember that `wa_id` wrote `wamid` to `phone_number_id`."""
        message = CustomerMessage(wamid=wamid, phone_number_id=phone_number_id, wa_id=wa_id)
        self._messages[wamid] = message
        self._messages.move_to_end(wamid)
        while len(self._messages) > self._limit:
            self._messages.popitem(last=False)
        return message

    def find(self, wamid: str) -> CustomerMessage | None:
        """The kept customer message `wamid`, if the customer wrote it through the sandbox."""
        return self._messages.get(wamid)
