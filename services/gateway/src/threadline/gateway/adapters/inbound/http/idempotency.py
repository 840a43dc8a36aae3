"""`Idempotency-Key` on every POST, in one place.

A POST with the header is answered, for as long as the gateway remembers the key (the last
`REMEMBERED_KEYS` of this process), with the first successful answer to the same caller's same
request; the same key with another request is refused (409). JSON POSTs are handled by the
`idempotent_posts` middleware (the request is its method, path, query and body); streamed
uploads, whose bodies are not held, handle it themselves: files hand the key to the session's
`SendFiles` (which queues nothing twice), knowledge documents remember their answer here under
a fingerprint of the files (`knowledge.fingerprint`).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from threadline.gateway.adapters.inbound.http.errors import BadRequest, GatewayError
from threadline.servicekit.validation import check_text

REMEMBERED_KEYS = 1024
MAX_KEY_LENGTH = 256

Json = dict[str, Any]


class IdempotencyConflict(GatewayError):
    status = 409
    code = "FAILED_PRECONDITION"


def given_idempotency_key(request: web.Request) -> str:
    """The `Idempotency-Key` header as given ("" when there is none), checked."""
    key = request.headers.get("Idempotency-Key", "").strip()
    check_text(key, "Idempotency-Key")
    if len(key) > MAX_KEY_LENGTH:
        raise BadRequest(f"Idempotency-Key: at most {MAX_KEY_LENGTH} characters")
    return key


class AnsweredRequests:
    """The answers to the latest requests that carried an `Idempotency-Key`, by caller and key
    (bounded: the oldest are forgotten first); each answer is kept with what the request was."""

    def __init__(self, limit: int = REMEMBERED_KEYS) -> None:
        self._limit = limit
        self._answers: OrderedDict[tuple[str, str], tuple[str, Any]] = OrderedDict()

    @staticmethod
    def _slot(authorization: str, key: str) -> tuple[str, str]:
        return hashlib.sha256(authorization.encode()).hexdigest(), key

    def answer(self, authorization: str, key: str, request: str) -> Any | None:
        """The first answer to this key, if remembered; 409 when it was another request."""
        found = self._answers.get(self._slot(authorization, key))
        if found is None:
            return None
        remembered, answer = found
        if remembered != request:
            raise IdempotencyConflict(
                "Idempotency-Key: this key was used for another request; use a new key"
            )
        return answer

    def remember(self, authorization: str, key: str, request: str, answer: Any) -> None:
        slot = self._slot(authorization, key)
        self._answers[slot] = (request, answer)
        self._answers.move_to_end(slot)
        while len(self._answers) > self._limit:
            self._answers.popitem(last=False)


ANSWERED_REQUESTS = web.AppKey("answered_requests", AnsweredRequests)


@web.middleware
async def idempotent_posts(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A JSON POST with an `Idempotency-Key` answered as its first success was."""
    if request.method != "POST" or request.content_type.startswith("multipart/"):
        return await handler(request)
    key = given_idempotency_key(request)
    authorization = request.headers.get("Authorization", "").strip()
    if not key or not authorization:
        return await handler(request)
    digest = hashlib.sha256(f"{request.method} {request.rel_url}\0".encode())
    digest.update(await request.read())
    fingerprint = digest.hexdigest()
    answered = request.app[ANSWERED_REQUESTS]
    earlier = answered.answer(authorization, key, fingerprint)
    if earlier is not None:
        status, content_type, body = earlier
        return web.Response(status=status, body=body, content_type=content_type)
    response = await handler(request)
    if isinstance(response, web.Response) and 200 <= response.status < 300:
        body = response.body if isinstance(response.body, bytes) else b""
        answered.remember(
            authorization, key, fingerprint, (response.status, response.content_type, body)
        )
    return response
