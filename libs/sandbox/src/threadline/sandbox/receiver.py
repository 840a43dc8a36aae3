"""A stand-in for the platform's webhook endpoint: records what arrives and checks signatures.

Tests start it on a free port and point the sandbox's webhook URL at it.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType

from aiohttp import web

from threadline.sandbox.signing import SIGNATURE_HEADER, verify


@dataclass(frozen=True, kw_only=True)
class ReceivedWebhook:
    """One webhook as it arrived: raw body, signature header, and whether the signature held."""

    body: bytes
    headers: Mapping[str, str]
    signature: str | None
    verified: bool
    answered: int

    def json(self) -> dict[str, object]:
        """The body parsed as JSON."""
        parsed: dict[str, object] = json.loads(self.body)
        return parsed


class WebhookReceiver:
    """Listens on `host`:`port` (0 for a free one) at `/webhooks/whatsapp`."""

    PATH = "/webhooks/whatsapp"

    def __init__(self, app_secret: str, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.received: list[ReceivedWebhook] = []
        self._app_secret = app_secret
        self._host = host
        self._port = port
        self._replies: deque[int] = deque()
        self._answer_after_s = 0.0
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The webhook URL to configure in the sandbox."""
        if self._runner is None:
            raise RuntimeError("The receiver is not started.")
        return f"http://{self._host}:{self._runner.addresses[0][1]}{self.PATH}"

    def reply_with(self, *statuses: int) -> None:
        """Answer the next webhooks with these HTTP statuses, then with 200 again."""
        self._replies.extend(statuses)

    def answer_after(self, seconds: float) -> None:
        """Answer every webhook from now on `seconds` after it arrived: a slow platform."""
        self._answer_after_s = seconds

    async def wait_for(self, count: int) -> list[ReceivedWebhook]:
        """Wait until `count` webhooks have arrived in all; all of them, in arrival order.

        Bound the wait with `asyncio.timeout(...)` around the call.
        """
        async with self._arrived:
            await self._arrived.wait_for(lambda: len(self.received) >= count)
        return list(self.received)

    async def start(self) -> None:
        """Start listening."""
        app = web.Application()
        app.router.add_post(self.PATH, self._receive)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, self._host, self._port).start()
        self._runner = runner

    async def stop(self) -> None:
        """Stop listening."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> WebhookReceiver:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        signature = request.headers.get(SIGNATURE_HEADER)
        verified = verify(body, signature, self._app_secret)
        answer = self._replies.popleft() if self._replies else (200 if verified else 401)
        async with self._arrived:
            self.received.append(
                ReceivedWebhook(
                    body=body,
                    headers=dict(request.headers),
                    signature=signature,
                    verified=verified,
                    answered=answer,
                )
            )
            self._arrived.notify_all()
        if self._answer_after_s:
            await asyncio.sleep(self._answer_after_s)
        return web.Response(status=answer)
