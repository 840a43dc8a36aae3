"""Status webhooks (`sent`, `delivered`, `read`) for the messages the sandbox accepted."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from threadline.sandbox.envelope import BusinessNumber, webhook_envelope
from threadline.sandbox.outbox import AcceptedMessage
from threadline.sandbox.validation import message_type
from threadline.sandbox.webhooks import WebhookSender

log = logging.getLogger(__name__)

LIFECYCLE: Final = ("sent", "delivered", "read")


def build_status_webhook(
    number: BusinessNumber, message: AcceptedMessage, status: str, *, at: datetime
) -> dict[str, object]:
    """The webhook Meta sends when `message` reaches `status` at `at`."""
    # Service messages inside the customer's window are free; templates are billed.
    free = message_type(message.request) != "template"
    category = "service" if free else "utility"
    conversation: dict[str, object] = {
        "id": _conversation_id(number, message),
        "origin": {"type": category},
    }
    if status == "sent":
        expires = message.accepted_at + timedelta(hours=24)
        conversation["expiration_timestamp"] = str(int(expires.timestamp()))
    entry: dict[str, object] = {
        "id": message.wamid,
        "status": status,
        "timestamp": str(int(at.timestamp())),
        **_recipient(message),
        "conversation": conversation,
        "pricing": {
            "billable": not free,
            "pricing_model": "PMP",
            "category": category,
            "type": "free_customer_service" if free else "regular",
        },
    }
    if isinstance(message.request.get("biz_opaque_callback_data"), str):
        entry["biz_opaque_callback_data"] = message.request["biz_opaque_callback_data"]
    return webhook_envelope(number, {"statuses": [entry]})


def _recipient(message: AcceptedMessage) -> dict[str, str]:
    """Meta names the phone number `recipient_id` and a business-scoped user id
    `recipient_user_id`: the status names the customer the way the send addressed them."""
    if message.request.get("to"):
        return {"recipient_id": message.to}
    return {"recipient_user_id": message.to}


def _conversation_id(number: BusinessNumber, message: AcceptedMessage) -> str:
    """One stable conversation id per business number and customer, 32 hex digits like Meta's."""
    key = f"{number.phone_number_id}:{message.to}".encode()
    return hashlib.sha1(key, usedforsecurity=False).hexdigest()[:32]


class StatusReporter:
    """Plays each accepted message through sent → delivered → read, one webhook per step.

    Every message gets its own background task; `close()` cancels those still running.
    """

    def __init__(
        self,
        sender: WebhookSender,
        business_number: Callable[[str], BusinessNumber],
        *,
        delay_s: float,
        clock: Callable[[], datetime],
    ) -> None:
        self._sender = sender
        self._business_number = business_number
        self._delay_s = delay_s
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    def report(self, message: AcceptedMessage) -> None:
        """Start delivering `message`'s statuses in the background."""
        task = asyncio.create_task(self._play(message), name=f"statuses {message.wamid}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    async def wait_idle(self) -> None:
        """Wait until every status webhook started so far has been delivered or given up."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        """Cancel the statuses still to be delivered and wait for their tasks to end."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _play(self, message: AcceptedMessage) -> None:
        number = self._business_number(message.phone_number_id)
        for status in LIFECYCLE:
            # The first wait also lets the send's HTTP reply reach the platform before `sent`.
            await asyncio.sleep(self._delay_s)
            webhook = build_status_webhook(number, message, status, at=self._clock())
            if await self._sender.deliver(webhook, headers=message.trace_headers) != 200:
                log.warning("gave up on %s status of %s", status, message.wamid)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("status delivery failed", exc_info=task.exception())
