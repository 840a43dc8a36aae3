"""Which message ids a business number may mark read (and show "typing…" for).

Meta takes a read receipt only for a message a customer sent to that number; for any other id
it answers a Graph error. The sandbox knows the messages customers wrote through it (`Inbox`)
and the ones businesses sent through it (`Outbox`), but not those of webhooks posted straight
to the platform (tests, chaos, fuzz and bench play customers that way). So it refuses what it
knows cannot be a customer's message to this number, and takes any other `wamid.…`:

- an id that is not a WhatsApp message id (no `wamid.` prefix);
- a message a business sent (the sandbox gave it its wamid): a business reads only what it got;
- a customer's message to another business number.
"""

from __future__ import annotations

from threadline.sandbox.inbox import Inbox
from threadline.sandbox.outbox import Outbox

WAMID_PREFIX = "wamid."


def unknown_message(
    message_id: str, phone_number_id: str, *, inbox: Inbox, outbox: Outbox
) -> str | None:
    """Why `phone_number_id` cannot mark `message_id` read; None when it can."""
    if not message_id.startswith(WAMID_PREFIX):
        return f"message_id {message_id!r} is not a WhatsApp message id"
    if outbox.sent(message_id) is not None:
        return f"message_id {message_id!r} is a message the business sent, not one it received"
    written = inbox.find(message_id)
    if written is not None and written.phone_number_id != phone_number_id:
        return f"message_id {message_id!r} was not sent to phone number {phone_number_id}"
    return None
