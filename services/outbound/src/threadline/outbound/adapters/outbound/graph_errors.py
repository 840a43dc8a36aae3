"""What a failed Graph API call means for us: the WhatsApp error, and whether to try again.

Meta's error body is `{"error": {"message", "type", "code", "error_subcode", "error_data":
{"details"}, "error_user_title", "is_transient", "fbtrace_id"}}`. A failure is worth retrying
when it says "not now" rather than "never": a 5xx or 429, a network failure, a temporary Graph
outage, or Meta's own `is_transient`. Everything else (invalid parameter, undeliverable, outside
the re-engagement window, bad token, ...) will fail the same way every time.

A throughput (130429) or pair rate limit (131056) answer is neither: it says "slower", and is
raised as `GraphApiThrottled` so the sender slows down and sends the same message again
(`domain.pacing`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from threadline.outbound.application.ports import GraphApiError, GraphApiThrottled
from threadline.outbound.domain.failure import NO_CODE, WhatsAppFailure
from threadline.outbound.domain.pacing import ThrottleScope

RETRYABLE_CODES = frozenset(
    {
        1,  # API unknown: a temporary Graph failure
        2,  # API service: temporarily unavailable
        4,  # API too many calls (application rate limit)
        80007,  # WhatsApp Business Account rate limit
        131000,  # something went wrong (Meta's generic, usually transient)
        131016,  # service unavailable
        133004,  # server temporarily unavailable
    }
)
THROTTLES = {
    130429: ThrottleScope.NUMBER,  # throughput: the number's messages-per-second cap
    131056: ThrottleScope.RECIPIENT,  # pair rate limit: too many to one user too fast
}
_CODE_PREFIX = re.compile(r"^\(#\d+\)\s*")


def error_from_response(status: int, body: Any, text: str = "") -> GraphApiError:
    """Read a non-2xx answer; `body` is its parsed JSON (None when it was not JSON)."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        failure = WhatsAppFailure(
            code=NO_CODE,
            title=f"HTTP {status}",
            message=text[:500],
            retryable=_status_is_transient(status),
        )
        return GraphApiError(failure, http_status=status)
    code = _int(error.get("code"))
    message = str(error.get("message") or "")
    data = error.get("error_data")
    details = str(data.get("details") or "") if isinstance(data, Mapping) else ""
    title = str(error.get("error_user_title") or error.get("title") or "")
    failure = WhatsAppFailure(
        code=code,
        title=title or _CODE_PREFIX.sub("", message) or f"HTTP {status}",
        message=message,
        details=details,
        retryable=(
            _status_is_transient(status)
            or code in RETRYABLE_CODES
            or code in THROTTLES
            or error.get("is_transient") is True
        ),
    )
    scope = THROTTLES.get(code)
    if scope is not None:
        return GraphApiThrottled(failure, scope, http_status=status)
    return GraphApiError(failure, http_status=status)


def network_error(error: BaseException) -> GraphApiError:
    """The request never got an answer: retry (see `application.dispatcher` for what that
    risks)."""
    failure = WhatsAppFailure(
        code=NO_CODE,
        title="Graph API unreachable",
        message=f"{type(error).__name__}: {error}",
        retryable=True,
    )
    return GraphApiError(failure)


def unexpected_answer(status: int, text: str, *, expected: str) -> GraphApiError:
    """A 2xx without what it should hold (`expected`): Meta may have accepted the request, so
    never send it again."""
    failure = WhatsAppFailure(
        code=NO_CODE,
        title="Unexpected Graph API answer",
        message=f"HTTP {status} without {expected}: {text[:300]}",
        retryable=False,
    )
    return GraphApiError(failure, http_status=status)


def _status_is_transient(status: int) -> bool:
    return status == 429 or status >= 500


def _int(value: object) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return NO_CODE
