"""Delivering signed webhooks to the platform, retrying the ones it did not accept."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Final

import aiohttp

from threadline.sandbox.signing import SIGNATURE_HEADER, sign

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_S: Final = 10.0


def receiver_timeout(seconds: float) -> aiohttp.ClientTimeout:
    """`seconds` for the receiver to take the connection and `seconds` for it to answer.

    Not aiohttp's `total`: that clock starts before the request waits for one of this client's
    own pooled connections (100 at most), so with a few hundred status webhooks under way it
    timed webhooks out that the platform had not yet been sent — and sent them again, on top.
    The platform's part, taking the connection and answering, is what this clock times."""
    return aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds)


def encode_webhook(payload: Mapping[str, object]) -> bytes:
    """The raw body that is both signed and sent."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


async def post_signed(
    session: aiohttp.ClientSession,
    url: str,
    payload: Mapping[str, object],
    app_secret: str,
    *,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = WEBHOOK_TIMEOUT_S,
) -> int:
    """POST `payload` once with its `X-Hub-Signature-256`; the HTTP status it got.

    Raises `aiohttp.ClientError` (or `TimeoutError`) when the receiver cannot be reached, or
    takes more than `timeout_s` to take the connection or to answer (`receiver_timeout`).
    """
    body = encode_webhook(payload)
    sent_headers = {**(headers or {}), "Content-Type": "application/json"}
    sent_headers[SIGNATURE_HEADER] = sign(body, app_secret)
    async with session.post(
        url, data=body, headers=sent_headers, timeout=receiver_timeout(timeout_s)
    ) as response:
        await response.read()
        return response.status


class WebhookSender:
    """Posts signed webhooks to one URL, retrying with exponential backoff until a 200."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        app_secret: str,
        *,
        attempts: int = 4,
        backoff_s: float = 0.1,
        timeout_s: float = WEBHOOK_TIMEOUT_S,
    ) -> None:
        self._session = session
        self._url = url
        self._app_secret = app_secret
        self._attempts = max(1, attempts)
        self._backoff_s = backoff_s
        self._timeout_s = timeout_s

    async def deliver(
        self, payload: Mapping[str, object], *, headers: Mapping[str, str] | None = None
    ) -> int | None:
        """Deliver `payload`; the last HTTP status, or None if the receiver was never reached.

        `headers` go with every attempt, besides the content type and the signature.
        """
        status: int | None = None
        for attempt in range(1, self._attempts + 1):
            try:
                status = await post_signed(
                    self._session,
                    self._url,
                    payload,
                    self._app_secret,
                    headers=headers,
                    timeout_s=self._timeout_s,
                )
            except (aiohttp.ClientError, TimeoutError) as error:
                log.warning("webhook to %s failed (attempt %d): %s", self._url, attempt, error)
            else:
                if status == 200:
                    return status
                log.warning("webhook to %s got %d (attempt %d)", self._url, status, attempt)
            if attempt < self._attempts:
                await asyncio.sleep(self._backoff_s * 2 ** (attempt - 1))
        return status
