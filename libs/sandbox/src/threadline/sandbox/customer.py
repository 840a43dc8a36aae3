"""Playing a customer: inbound text webhooks, built as Meta sends them, signed and delivered."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Final

import aiohttp
from aiohttp import web

from threadline.sandbox.config import SandboxConfig
from threadline.sandbox.envelope import DEFAULT_WABA_ID, BusinessNumber, webhook_envelope
from threadline.sandbox.graph_errors import invalid_parameter
from threadline.sandbox.identifiers import new_wamid
from threadline.sandbox.inbox import Inbox
from threadline.sandbox.limits import as_object, check_text
from threadline.sandbox.webhooks import post_signed

log = logging.getLogger(__name__)

DEFAULT_PROFILE_NAME: Final = "Sandbox Customer"


def build_inbound_text(
    phone_number_id: str,
    display_phone_number: str,
    wa_id: str,
    profile_name: str,
    text: str,
    *,
    wamid: str | None = None,
    timestamp: int | datetime | None = None,
    user_id: str | None = None,
    waba_id: str = DEFAULT_WABA_ID,
) -> dict[str, object]:
    """The webhook Meta sends when customer `wa_id` writes `text` to the business number."""
    contact: dict[str, object] = {"profile": {"name": profile_name}, "wa_id": wa_id}
    if user_id is not None:
        contact["user_id"] = user_id
    message = {
        "from": wa_id,
        "id": wamid or new_wamid(),
        "timestamp": str(_unix_seconds(timestamp)),
        "text": {"body": text},
        "type": "text",
    }
    number = BusinessNumber(
        waba_id=waba_id,
        phone_number_id=phone_number_id,
        display_phone_number=display_phone_number,
    )
    return webhook_envelope(number, {"contacts": [contact], "messages": [message]})


async def send_inbound(
    session: aiohttp.ClientSession,
    webhook_url: str,
    app_secret: str,
    *,
    phone_number_id: str,
    display_phone_number: str,
    wa_id: str,
    profile_name: str,
    text: str,
    wamid: str | None = None,
    timestamp: int | datetime | None = None,
    user_id: str | None = None,
    waba_id: str = DEFAULT_WABA_ID,
) -> tuple[int, str]:
    """Deliver one signed inbound text webhook (one attempt); its HTTP status and wamid.

    Raises `aiohttp.ClientError` (or `TimeoutError`) when the webhook URL cannot be reached.
    """
    wamid = wamid or new_wamid()
    payload = build_inbound_text(
        phone_number_id,
        display_phone_number,
        wa_id,
        profile_name,
        text,
        wamid=wamid,
        timestamp=timestamp,
        user_id=user_id,
        waba_id=waba_id,
    )
    status = await post_signed(session, webhook_url, payload, app_secret)
    return status, wamid


class CustomerApi:
    """`POST /sandbox/customers/{wa_id}/messages`: a customer writes to a business number.

    Each message is recorded in `inbox` before its webhook goes, so the business's read receipt
    for it, however quick, finds it."""

    def __init__(self, config: SandboxConfig, session: aiohttp.ClientSession, inbox: Inbox) -> None:
        self._config = config
        self._session = session
        self._inbox = inbox

    def routes(self) -> list[web.RouteDef]:
        """The routes this API serves."""
        return [web.post("/sandbox/customers/{wa_id}/messages", self.send_message)]

    async def send_message(self, request: web.Request) -> web.Response:
        """Send the customer's text to the platform's webhook; report the wamid and its reply."""
        try:
            body = as_object(await request.json())
        except ValueError:
            body = None
        if body is None:
            return invalid_parameter(["the request body must be a JSON object"])
        problems = check_text(body, "phone_number_id", "phone_number_id", limit=None, required=True)
        problems += check_text(body, "text", "text", limit=4096, required=True)
        problems += check_text(body, "profile_name", "profile_name", limit=None, required=False)
        problems += check_text(body, "user_id", "user_id", limit=None, required=False)
        if problems:
            return invalid_parameter(problems)
        number = self._config.business_number(str(body["phone_number_id"]))
        wa_id, wamid = request.match_info["wa_id"], new_wamid()
        self._inbox.record(wamid, phone_number_id=number.phone_number_id, wa_id=wa_id)
        try:
            status, _ = await send_inbound(
                self._session,
                self._config.webhook_url,
                self._config.app_secret,
                phone_number_id=number.phone_number_id,
                display_phone_number=number.display_phone_number,
                wa_id=wa_id,
                profile_name=str(body.get("profile_name") or DEFAULT_PROFILE_NAME),
                text=str(body["text"]),
                wamid=wamid,
                user_id=str(body["user_id"]) if body.get("user_id") else None,
                waba_id=number.waba_id,
            )
        except (aiohttp.ClientError, TimeoutError) as error:
            log.warning("webhook %s unreachable: %s", self._config.webhook_url, error)
            return web.json_response(
                {"wamid": wamid, "webhook_status": None, "error": str(error)}, status=502
            )
        log.info("customer %s wrote to %s: %s (%d)", wa_id, number.phone_number_id, wamid, status)
        return web.json_response({"wamid": wamid, "webhook_status": status})


def _unix_seconds(timestamp: int | datetime | None) -> int:
    if timestamp is None:
        return int(time.time())
    if isinstance(timestamp, datetime):
        return int(timestamp.timestamp())
    return timestamp
