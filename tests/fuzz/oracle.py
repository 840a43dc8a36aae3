"""Sending each case to the platform and judging the answer on its own.

- ingest: a signed body is answered 200 (or 413 when it is large); any other body 401 (or 413);
  a valid message's body is `accepted`, not dead-lettered.
- gateway: never 5xx; a tenant probe 404.
- gRPC: never UNKNOWN, INTERNAL, DATA_LOSS, UNIMPLEMENTED, UNAVAILABLE, RESOURCE_EXHAUSTED or a
  missed deadline; a tenant probe NOT_FOUND.
- operators' file sends (`files`): a refused one (not 202 / OK) leaves none of its files in the
  media store.
- no answer at all within the timeout is a violation everywhere, and so is an error message
  longer than `ERROR_TEXT_LIMIT` (it echoes the input).

What can only be judged over many cases (stored exactly once, nothing kept of an unsigned body,
replies keep coming) is in `watchers` and `stall`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import grpc

from tests.fuzz import rawhttp
from tests.fuzz.cases import Case, GrpcCase, HttpCase, Outcome, WebhookCase, preview
from tests.fuzz.grpc_cases import SESSION_SERVICES
from tests.fuzz.platform import Target
from tests.fuzz.webhooks import MIN_TOO_LARGE

SIGNATURE_HEADER = "X-Hub-Signature-256"
ERROR_TEXT_LIMIT = 4096  # gRPC details: past 16 KiB a client gets RESOURCE_EXHAUSTED instead
# Our JSON error bodies (aiohttp's own text answers to unparseable requests quote the request
# line, the client's own bytes, and are not judged).
HTTP_ERROR_LIMIT = 16 * 1024
BAD_CODES = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.DATA_LOSS,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    }
)
STREAMED_ITEMS = 3  # a streaming call is cancelled after this many responses


def signature(case: WebhookCase, secret: str) -> str | None:
    """The `X-Hub-Signature-256` value the case's `signing` asks for."""
    body = case.body

    def hmac_hex(key: str, data: bytes, digest: str = "sha256") -> str:
        return hmac.new(key.encode(), data, digest).hexdigest()

    match case.signing:
        case "valid":
            return "sha256=" + hmac_hex(secret, body)
        case "missing":
            return None
        case "wrong_secret":
            return "sha256=" + hmac_hex(secret + "x", body)
        case "garbage":
            return "sha256=" + "zz" * 32
        case "other_body":
            return "sha256=" + hmac_hex(secret, body + b" ")
        case "sha1":
            return "sha1=" + hmac_hex(secret, body, "sha1")
        case "empty":
            return ""
        case "long":
            return "sha256=" + "0" * 8000
    raise ValueError(f"unknown signing {case.signing!r}")


class Sender:
    """Sends cases to one platform; `async with` owns the HTTP session and gRPC channels."""

    def __init__(self, target: Target, *, timeout: float = 30.0) -> None:
        self.target = target
        self.timeout = timeout
        self._http: aiohttp.ClientSession | None = None
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._ingest_port = urlsplit(target.webhook_url).port or 80

    async def __aenter__(self) -> Sender:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        options = [("grpc.max_receive_message_length", 16 * 1024 * 1024)]
        self._channels = {
            "session": grpc.aio.insecure_channel(self.target.session_address, options=options),
            "analytics": grpc.aio.insecure_channel(self.target.analytics_address, options=options),
        }
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._http is not None:
            await self._http.close()
        for channel in self._channels.values():
            await channel.close()

    def channel(self, service: str) -> grpc.aio.Channel:
        return self._channels["session" if service in SESSION_SERVICES else "analytics"]

    async def send(self, case: Case) -> Outcome:
        started = time.perf_counter()
        if isinstance(case, WebhookCase):
            outcome = await self._webhook(case)
        elif isinstance(case, HttpCase):
            outcome = await self._gateway(case)
        else:
            outcome = await self._grpc(case)
        outcome.seconds = time.perf_counter() - started
        return outcome

    async def _webhook(self, case: WebhookCase) -> Outcome:
        assert self._http is not None
        headers = {"Content-Type": case.content_type} if case.content_type else {}
        headers.update(case.headers)
        signed = signature(case, self.target.app_secret)
        if signed is not None:
            headers[SIGNATURE_HEADER] = signed
        try:
            try:
                status, body = await self._post(self._http, case.body, headers)
            except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
                # A kept-alive connection the server had closed: WhatsApp would send again,
                # and so do we, once, on a connection of its own.
                async with aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=self.timeout),
                    connector=aiohttp.TCPConnector(force_close=True),
                ) as fresh:
                    status, body = await self._post(fresh, case.body, headers)
        except (aiohttp.ClientError, TimeoutError) as error:
            return Outcome(
                "no answer", repr(error), violations=[f"ingest gave no answer: {error!r}"]
            )
        outcome = Outcome(str(status), preview(body, 200))
        expected = {200} if case.signed else {401}
        if len(case.body) >= MIN_TOO_LARGE:
            expected.add(413)
        if case.headers:
            # A Content-Encoding the body does not have, …: refusing it in any way is right.
            expected |= set(range(400, 500))
        if status not in expected:
            outcome.violations.append(
                f"ingest answered {status} to {'a signed' if case.signed else 'an unsigned'} body "
                f"of {len(case.body)} bytes (expected {_statuses(expected)}): {preview(body, 200)}"
            )
        if case.valid_wamids and status == 200 and _json(body).get("status") != "accepted":
            outcome.violations.append(f"a valid message was not accepted: {preview(body, 300)}")
        refused = status >= 400 or b"dead_lettered" in body[:40]
        if refused and _ours(body) and len(body) > HTTP_ERROR_LIMIT:
            outcome.violations.append(f"ingest's answer of {len(body)} bytes echoes the input")
        return outcome

    async def _post(
        self, http: aiohttp.ClientSession, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        async with http.post(self.target.webhook_url, data=body, headers=headers) as response:
            return response.status, await response.read()

    async def _gateway(self, case: HttpCase) -> Outcome:
        headers = list(case.headers)
        authorization = self.target.tokens.authorization(case.token)
        if authorization is not None and not any(n.lower() == b"authorization" for n, _ in headers):
            headers.append((b"Authorization", authorization.encode()))
        try:
            response = await rawhttp.request(
                "127.0.0.1",
                self._ingest_port if case.server == "ingest" else self.target.gateway_port,
                case.method,
                case.target,
                tuple(headers),
                case.body,
                timeout=self.timeout,
            )
        except rawhttp.NoAnswer as error:
            if len(case.body) > 64 * 1024 or len(case.target) > 8 * 1024:
                # A server refusing a large request may close before reading it all.
                return Outcome("closed on a large request", str(error))
            return Outcome(
                "no answer", str(error), violations=[f"{case.server} gave no answer: {error}"]
            )
        except (TimeoutError, OSError) as error:
            return Outcome(
                "no answer", repr(error), violations=[f"gateway gave no answer: {error!r}"]
            )
        outcome = Outcome(str(response.status), preview(response.body, 200))
        if response.status >= 500:
            outcome.violations.append(
                f"{case.server} answered {response.status}: {preview(response.body, 300)}"
            )
        if case.expect_ok and response.status != 200:
            outcome.violations.append(
                f"a plain read answered {response.status}: {preview(response.body, 300)}"
            )
        if case.expect_not_found and response.status != 404:
            outcome.violations.append(
                f"tenant probe answered {response.status}, not 404: {preview(response.body, 300)}"
            )
        if response.status != 202:
            self._nothing_kept(case.files_sha256, outcome)
        if (
            response.status >= 400
            and _ours(response.body)
            and len(response.body) > HTTP_ERROR_LIMIT
        ):
            outcome.violations.append(
                f"gateway's error of {len(response.body)} bytes echoes the input"
            )
        return outcome

    async def _grpc(self, case: GrpcCase) -> Outcome:
        channel = self.channel(case.service)
        authorization = self.target.tokens.authorization(case.token)
        metadata = (("authorization", authorization),) if authorization is not None else ()
        code, details = grpc.StatusCode.OK, ""
        try:
            if case.client_streaming:
                stream_in: Any = channel.stream_unary(case.path)
                await stream_in(iter(case.requests), metadata=metadata, timeout=self.timeout)
            elif case.streaming:
                streaming: Any = channel.unary_stream(case.path)  # bytes in, bytes out
                call = streaming(case.request, metadata=metadata, timeout=self.timeout)
                received = 0
                async for _ in call:
                    received += 1
                    if received >= STREAMED_ITEMS:
                        call.cancel()
                        break
            else:
                unary: Any = channel.unary_unary(case.path)
                await unary(case.request, metadata=metadata, timeout=self.timeout)
        except grpc.aio.AioRpcError as error:
            code, details = error.code(), error.details() or ""
        except asyncio.CancelledError:
            raise
        outcome = Outcome(code.name, details[:200])
        if code in BAD_CODES:
            outcome.violations.append(f"{case.method} answered {code.name}: {details[:300]!r}")
        if case.expect_not_found and code != grpc.StatusCode.NOT_FOUND:
            outcome.violations.append(
                f"tenant probe {case.method} answered {code.name}, not NOT_FOUND: {details[:300]!r}"
            )
        if len(details) > ERROR_TEXT_LIMIT:
            outcome.violations.append(
                f"{case.method}'s error of {len(details)} chars echoes the input"
            )
        if code != grpc.StatusCode.OK:
            self._nothing_kept(case.files_sha256, outcome)
        return outcome

    def _nothing_kept(self, digests: tuple[str, ...], outcome: Outcome) -> None:
        """A refused file upload left none of its files in the media store."""
        root = self.target.media_root
        if root is None:
            return
        for digest in digests:
            if (root / digest[:2] / digest).exists():
                outcome.violations.append(
                    f"refused ({outcome.answer}) yet the file {digest} is in the media store"
                )


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _statuses(expected: set[int]) -> str:
    return "any 4xx" if len(expected) > 50 else ", ".join(map(str, sorted(expected)))


def _ours(body: bytes) -> bool:
    """An answer written by our handlers (JSON), not by aiohttp's request parser (text)."""
    return body[:1] == b"{"


def _json(body: bytes) -> dict[str, Any]:
    try:
        found = json.loads(body)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}
