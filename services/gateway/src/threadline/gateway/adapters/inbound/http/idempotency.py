"""`Idempotency-Key` on every POST, in one place.

A POST with the header is answered, for as long as the key is remembered, with the first
successful answer to the same caller's same request; the same key with another request is
refused (409), and so is a second request while the first is still being answered (409,
"under way": the caller retries later and then gets the first answer).

Where the answers are kept (`AnswerStore`):
- with NATS, in the key-value bucket `GATEWAY_IDEMPOTENCY` (`SharedAnswers`), for
  `REMEMBERED_FOR` (24 h) — every gateway process sees every other's answers, so replicas
  behind a load balancer honour a key whichever one a retry reaches;
- without NATS, in this process (`LocalAnswers`, the last `REMEMBERED_KEYS`).

A claim is taken before the request is handled (create-if-absent: of two processes given the
same key at once, one handles it); a claim whose process died is taken over after
`CLAIM_SECONDS`. A failed request (not 2xx) releases its claim, so the caller may retry it.
Answers larger than `MAX_ANSWER_BYTES` (none of the POSTs answers that much) are not kept.

JSON POSTs are handled by the `idempotent_posts` middleware (the request is its method, path,
query and body); streamed uploads, whose bodies are not held, handle it themselves: files hand
the key to the session's `SendFiles` (which queues nothing twice), knowledge documents claim
here under a fingerprint of the files (`knowledge.fingerprint`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from aiohttp import web
from aiohttp.typedefs import Handler
from nats.js import JetStreamContext
from nats.js.errors import KeyDeletedError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from threadline.gateway.adapters.inbound.http.errors import BadRequest, GatewayError
from threadline.messaging.key_value import open_bucket
from threadline.servicekit.validation import check_text

REMEMBERED_KEYS = 1024  # per process, without NATS
REMEMBERED_FOR = timedelta(hours=24)  # in the shared bucket
CLAIM_SECONDS = 300.0  # a claim older than this (its process died) may be taken over
MAX_ANSWER_BYTES = 256 * 1024
MAX_KEY_LENGTH = 256
BUCKET = "GATEWAY_IDEMPOTENCY"


class IdempotencyConflict(GatewayError):
    status = 409
    code = "FAILED_PRECONDITION"


@dataclass(frozen=True, slots=True)
class Answer:
    """A remembered answer: what the first request got."""

    status: int
    content_type: str
    body: bytes


def given_idempotency_key(request: web.Request) -> str:
    """The `Idempotency-Key` header as given ("" when there is none), checked."""
    key = request.headers.get("Idempotency-Key", "").strip()
    check_text(key, "Idempotency-Key")
    if len(key) > MAX_KEY_LENGTH:
        raise BadRequest(f"Idempotency-Key: at most {MAX_KEY_LENGTH} characters")
    return key


def slot_of(authorization: str, key: str) -> str:
    """Where one caller's key is kept: a digest of the credentials and the key (no secret is
    stored, and two callers' equal keys never meet)."""
    return hashlib.sha256(f"{authorization}\0{key}".encode()).hexdigest()


def _other_request() -> IdempotencyConflict:
    return IdempotencyConflict(
        "Idempotency-Key: this key was used for another request; use a new key"
    )


def _under_way() -> IdempotencyConflict:
    return IdempotencyConflict(
        "Idempotency-Key: a request with this key is still being answered; retry shortly"
    )


class AnswerStore(Protocol):
    async def claim(self, slot: str, request: str) -> Answer | None:
        """The first answer to `slot` when there is one (None: the caller now holds the claim
        and must `settle` or `release` it); 409 when the key was used for another request or
        its first request is still under way."""
        ...

    async def settle(self, slot: str, request: str, answer: Answer) -> None: ...

    async def release(self, slot: str) -> None: ...


@dataclass(slots=True)
class _Entry:
    request: str
    answer: Answer | None  # None while claimed
    claimed_at: float


def _check(entry: _Entry, request: str, now: float) -> Answer | None:
    """The remembered answer; raises when the entry refuses this request; None when the
    entry's claim is abandoned and may be taken over."""
    if entry.request != request:
        raise _other_request()
    if entry.answer is not None:
        return entry.answer
    if now - entry.claimed_at < CLAIM_SECONDS:
        raise _under_way()
    return None


class LocalAnswers:
    """This process's answers (bounded: the oldest are forgotten first)."""

    def __init__(
        self, limit: int = REMEMBERED_KEYS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit, self._clock = limit, clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    async def claim(self, slot: str, request: str) -> Answer | None:
        now = self._clock()
        entry = self._entries.get(slot)
        if entry is not None and (answer := _check(entry, request, now)) is not None:
            return answer
        self._entries[slot] = _Entry(request, None, now)
        self._entries.move_to_end(slot)
        while len(self._entries) > self._limit:
            self._entries.popitem(last=False)
        return None

    async def settle(self, slot: str, request: str, answer: Answer) -> None:
        if len(answer.body) <= MAX_ANSWER_BYTES:
            self._entries[slot] = _Entry(request, answer, self._clock())
        else:
            self._entries.pop(slot, None)

    async def release(self, slot: str) -> None:
        self._entries.pop(slot, None)


def _encode(entry: _Entry) -> bytes:
    answer = entry.answer
    return json.dumps(
        {
            "request": entry.request,
            "claimed_at": entry.claimed_at,
            "answer": None
            if answer is None
            else {
                "status": answer.status,
                "content_type": answer.content_type,
                "body": base64.b64encode(answer.body).decode(),
            },
        }
    ).encode()


def _decode(data: bytes) -> _Entry:
    value = json.loads(data)
    answer = value["answer"]
    return _Entry(
        str(value["request"]),
        None
        if answer is None
        else Answer(
            int(answer["status"]), str(answer["content_type"]), base64.b64decode(answer["body"])
        ),
        float(value["claimed_at"]),
    )


class SharedAnswers:
    """Answers kept in NATS (`GATEWAY_IDEMPOTENCY`), seen by every gateway process. Claims use
    the wall clock (`claimed_at`), compared across processes only against `CLAIM_SECONDS`."""

    def __init__(self, bucket: KeyValue, clock: Callable[[], float] = time.time) -> None:
        self._bucket, self._clock = bucket, clock

    @classmethod
    async def open(cls, js: JetStreamContext, namespace: str = "") -> SharedAnswers:
        bucket = await open_bucket(
            js,
            BUCKET,
            namespace=namespace,
            keep_for=REMEMBERED_FOR,
            description="Gateway: the first answer to each caller's Idempotency-Key",
        )
        return cls(bucket)

    async def claim(self, slot: str, request: str) -> Answer | None:
        for _ in range(5):
            now = self._clock()
            claim = _encode(_Entry(request, None, now))
            try:
                entry = await self._bucket.get(slot)
            except (KeyNotFoundError, KeyDeletedError):
                entry = None
            try:
                if entry is None or not entry.value:
                    # Absent, or released (a delete leaves a marker that `create` accepts).
                    await self._bucket.create(slot, claim)
                    return None
                answer = _check(_decode(entry.value), request, now)
                if answer is not None:
                    return answer
                await self._bucket.update(slot, claim, last=entry.revision)  # abandoned
                return None
            except KeyWrongLastSequenceError:
                continue  # another process claimed it meanwhile: look again
        raise _under_way()

    async def settle(self, slot: str, request: str, answer: Answer) -> None:
        if len(answer.body) > MAX_ANSWER_BYTES:
            await self.release(slot)
            return
        await self._bucket.put(slot, _encode(_Entry(request, answer, self._clock())))

    async def release(self, slot: str) -> None:
        await self._bucket.delete(slot)


ANSWER_STORE = web.AppKey("answer_store", AnswerStore)


async def answered_once(
    request: web.Request,
    key: str,
    fingerprint: str,
    handle: Callable[[], Awaitable[web.StreamResponse]],
) -> web.StreamResponse:
    """`handle()`'s response, or the first answer to this caller's `key` for the same request
    (`fingerprint`); a 2xx answer is remembered, any other lets the caller try again."""
    store = request.app[ANSWER_STORE]
    slot = slot_of(request.headers.get("Authorization", "").strip(), key)
    earlier = await store.claim(slot, fingerprint)
    if earlier is not None:
        return web.Response(
            status=earlier.status, body=earlier.body, content_type=earlier.content_type
        )
    try:
        response = await handle()
    except BaseException:
        await store.release(slot)
        raise
    if isinstance(response, web.Response) and 200 <= response.status < 300:
        body = response.body if isinstance(response.body, bytes) else b""
        await store.settle(slot, fingerprint, Answer(response.status, response.content_type, body))
    else:
        await store.release(slot)
    return response


@web.middleware
async def idempotent_posts(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A JSON POST with an `Idempotency-Key` answered as its first success was."""
    if request.method != "POST" or request.content_type.startswith("multipart/"):
        return await handler(request)
    key = given_idempotency_key(request)
    if not key or not request.headers.get("Authorization", "").strip():
        return await handler(request)
    digest = hashlib.sha256(f"{request.method} {request.rel_url}\0".encode())
    digest.update(await request.read())
    return await answered_once(request, key, digest.hexdigest(), lambda: handler(request))
