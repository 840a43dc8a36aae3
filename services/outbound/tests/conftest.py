"""A real local HTTP server standing in for the WhatsApp Cloud API (not the project sandbox)."""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    authorization: str
    traceparent: str
    body: dict[str, Any]
    at: float = 0.0  # the event loop's time of the answer
    status: int = 200  # the answer's HTTP status


@dataclass(frozen=True)
class Throttle:
    """Answer sends with WhatsApp's `code` for `seconds` from the first send the stub sees, to
    `recipient` only if set (counted from traffic, not from when the test asked, so a slow start
    of the service does not shorten the window)."""

    code: int
    seconds: float
    recipient: str = ""


class CloudApiStub:
    """Answers `POST /{version}/{phone_number_id}/messages` like the Cloud API and records it.

    Every send is accepted with a fresh wamid and every read receipt (`"status": "read"`) with
    `{"success": true}`, unless failures were scripted: those queued with `fail_next` answer the
    next requests, one each (as do answers queued with `answer_next`); `fail_always` answers all
    the rest. Like Meta, it can also say "too fast": `throttle` answers sends with 130429 or
    131056 for a while, and `limit_rate` answers 130429 to any send beyond a number of accepted
    sends in the last second.
    """

    def __init__(self) -> None:
        self.requests: list[ReceivedRequest] = []
        self.accepted: list[str] = []  # the wamids answered
        self.delay = 0.0  # seconds each send's answer takes, so concurrent requests overlap
        self.read_receipt_delay = 0.0  # seconds each read receipt's answer takes
        self.most_in_flight = 0
        self.read_receipts_in_flight = 0
        self._in_flight = 0
        self.url = ""
        self._next: deque[web.Response] = deque()
        self._always: tuple[int, int, str] | None = None
        self._throttles: list[Throttle] = []
        self._rate_limit: int | None = None
        self._accepted_at: deque[float] = deque()
        self.first_send_at: float | None = None  # loop time of the first send, throttled or not
        self._runner: web.AppRunner | None = None

    def fail_next(self, status: int, code: int, message: str, details: str = "") -> None:
        self._next.append(_graph_error(status, code, message, details))

    def answer_next(self, status: int, body: dict[str, Any]) -> None:
        self._next.append(web.json_response(body, status=status))

    def fail_always(self, status: int, code: int, message: str) -> None:
        self._always = (status, code, message)

    def throttle(self, code: int, *, for_seconds: float, recipient: str = "") -> None:
        self._throttles.append(Throttle(code, for_seconds, recipient))

    def limit_rate(self, per_second: int) -> None:
        self._rate_limit = per_second

    def accepted_sends(self) -> list[ReceivedRequest]:
        return [r for r in self.sends() if r.status == 200]

    def throttled_sends(self) -> list[ReceivedRequest]:
        return [r for r in self.sends() if r.status != 200]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{version}/{phone_number_id}/messages", self._messages)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def sends(self) -> list[ReceivedRequest]:
        return [r for r in self.requests if not _is_read_receipt(r.body)]

    def read_receipts(self) -> list[ReceivedRequest]:
        return [r for r in self.requests if _is_read_receipt(r.body)]

    async def _messages(self, request: web.Request) -> web.Response:
        body = await request.json()
        if _is_read_receipt(body):
            self.read_receipts_in_flight += 1
            try:
                await asyncio.sleep(self.read_receipt_delay)
                return self._answer(request, body)
            finally:
                self.read_receipts_in_flight -= 1
        self._in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self._in_flight)
        try:
            await asyncio.sleep(self.delay)
            return self._answer(request, body)
        finally:
            self._in_flight -= 1

    def _answer(self, request: web.Request, body: dict[str, Any]) -> web.Response:
        response = self._response(body)
        self.requests.append(
            ReceivedRequest(
                path=request.path,
                authorization=request.headers.get("Authorization", ""),
                traceparent=request.headers.get("traceparent", ""),
                body=body,
                at=asyncio.get_running_loop().time(),
                status=response.status,
            )
        )
        return response

    def _response(self, body: dict[str, Any]) -> web.Response:
        if self._next:
            return self._next.popleft()
        if self._always is not None:
            return _graph_error(*self._always)
        if _is_read_receipt(body):
            return web.json_response({"success": True})
        throttled = self._throttled(body)
        if throttled:
            return _graph_error(400, throttled, f"(#{throttled}) Rate limit hit")
        self._accepted_at.append(asyncio.get_running_loop().time())
        self.accepted.append(f"wamid.{uuid.uuid4().hex}")
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": "16505551234", "wa_id": "16505551234"}],
                "messages": [{"id": self.accepted[-1]}],
            }
        )

    def _throttled(self, body: dict[str, Any]) -> int:
        """The throttle code this send is answered with, or 0."""
        now = asyncio.get_running_loop().time()
        if self.first_send_at is None:
            self.first_send_at = now
        for throttle in self._throttles:
            if now < self.first_send_at + throttle.seconds and throttle.recipient in (
                "",
                body.get("to"),
            ):
                return throttle.code
        if self._rate_limit is not None:
            while self._accepted_at and self._accepted_at[0] <= now - 1.0:
                self._accepted_at.popleft()
            if len(self._accepted_at) >= self._rate_limit:
                return 130429
        return 0


def _is_read_receipt(body: dict[str, Any]) -> bool:
    return "status" in body


def _graph_error(status: int, code: int, message: str, details: str = "") -> web.Response:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    error["fbtrace_id"] = "A1b2C3d4"
    return web.json_response({"error": error}, status=status)


@pytest.fixture
async def cloud_api() -> AsyncIterator[CloudApiStub]:
    stub = CloudApiStub()
    await stub.start()
    yield stub
    await stub.stop()
