"""Prometheus metrics of the outbound service (served on the ops port's `/metrics`)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from google.protobuf.message import DecodeError
from prometheus_client import Counter, Histogram

from threadline.contracts.events.v1 import session_pb2
from threadline.outbound.application import media_keeper
from threadline.outbound.application.dispatcher import (
    DispatchResult,
    GaveUp,
    Refused,
    Sent,
    Waiting,
    WillRetry,
)
from threadline.outbound.application.ports import GraphApiError
from threadline.outbound.application.typing_indicators import NotShown, TooLate, TypingResult
from threadline.outbound.domain.failure import NO_CODE
from threadline.outbound.domain.pacing import ThrottleScope

P = ParamSpec("P")
R = TypeVar("R")

DISPATCHES = Counter(
    "threadline_outbound_dispatches_total",
    "Queued messages handled, by result (sent, already_sent, refused, will_retry, gave_up, "
    "waiting: an earlier part of its reply is not sent yet).",
    ["result"],
)
TYPING_INDICATORS = Counter(
    "threadline_outbound_typing_indicators_total",
    "Typing indicators handled, by result: sent, stale (too old to show: not sent), failed "
    "(the Graph API did not take it; a retried one counts each time).",
    ["result"],
)
GRAPH_API_SECONDS = Histogram(
    "threadline_outbound_graph_api_seconds",
    "Time taken by one Graph API request, by request (send, read_receipt, media_lookup, "
    "media_download, media_upload).",
    ["request"],
)
SEND_SECONDS = Histogram(
    "threadline_outbound_send_seconds",
    "End to end: from the session queueing a message (its OutboundMessageQueued event) to "
    "WhatsApp accepting it, retries and pacing included (first sends only).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0),
)
GRAPH_API_ERRORS = Counter(
    "threadline_graph_api_errors_total",
    "Graph API requests that failed, by request and WhatsApp error code (e.g. 131047: outside "
    "the 24-hour window; 130429: throughput); without a code: http_<status>, or network (no "
    "answer).",
    ["request", "code"],
)
MEDIA = Counter(
    "threadline_outbound_media_total",
    "Customers' media handled, by result: kept (downloaded), already_kept (the store had the "
    "bytes), refused (too large, wrong hash), failed (WhatsApp refused it or retries ran out), "
    "will_retry.",
    ["result"],
)
MEDIA_BYTES = Counter(
    "threadline_outbound_media_bytes_total",
    "Bytes of customers' media downloaded and kept.",
)
MEDIA_URL_REFRESHES = Counter(
    "threadline_outbound_media_url_refreshes_total",
    "Media download URLs found expired and asked for again (of media then kept).",
)

PACING_WAIT_SECONDS = Histogram(
    "threadline_outbound_pacing_wait_seconds",
    "Time a send waited for its turn (the number's throughput budget, the recipient's pace).",
    buckets=(0.0, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
THROTTLES = Counter(
    "threadline_outbound_throttles_total",
    "Sends WhatsApp answered 'too fast', by scope: number (130429), recipient (131056); each "
    "slowed the sender down and the message went again.",
    ["scope"],
)


class PrometheusPacingMetrics:
    """`PacingMetrics` as Prometheus instruments."""

    def waited(self, seconds: float) -> None:
        PACING_WAIT_SECONDS.observe(seconds)

    def throttled(self, scope: ThrottleScope) -> None:
        THROTTLES.labels(scope.value).inc()


def count_dispatch(result: DispatchResult, queued: bytes = b"") -> None:
    """Count `result`; for a first send, time it from when `queued` (the
    OutboundMessageQueued event's bytes) was queued."""
    DISPATCHES.labels(_label(result)).inc()
    if isinstance(result, Sent) and not result.already_sent and queued:
        seconds = seconds_since_queued(queued)
        if seconds is not None:
            SEND_SECONDS.observe(seconds)


def seconds_since_queued(event: bytes) -> float | None:
    """Seconds since the session event `event` occurred (None: it says no time)."""
    try:
        occurred = session_pb2.SessionEvent.FromString(event).occurred_at
    except DecodeError:
        return None
    if not occurred.seconds:
        return None
    return max(0.0, time.time() - (occurred.seconds + occurred.nanos / 1e9))


def count_typing_indicator(result: TypingResult) -> None:
    if isinstance(result, NotShown):
        TYPING_INDICATORS.labels("failed").inc()
    elif isinstance(result, TooLate):
        TYPING_INDICATORS.labels("stale").inc()
    else:
        TYPING_INDICATORS.labels("sent").inc()


def count_media(result: media_keeper.KeepResult) -> None:
    if isinstance(result, media_keeper.Kept):
        MEDIA.labels("kept" if result.downloaded else "already_kept").inc()
        MEDIA_BYTES.inc(result.downloaded)
        if result.url_refreshed:
            MEDIA_URL_REFRESHES.inc()
    elif isinstance(result, media_keeper.Refused):
        MEDIA.labels("refused").inc()
    elif isinstance(result, media_keeper.GaveUp):
        MEDIA.labels("failed").inc()
    else:
        MEDIA.labels("will_retry").inc()


def _label(result: DispatchResult) -> str:
    if isinstance(result, Sent):
        return "already_sent" if result.already_sent else "sent"
    labels = {Refused: "refused", WillRetry: "will_retry", GaveUp: "gave_up", Waiting: "waiting"}
    return labels[type(result)]


def error_code(error: GraphApiError) -> str:
    """The label of a failed request: its WhatsApp code, else its HTTP status, else `network`."""
    code = error.failure.code
    if code != NO_CODE:
        return str(code) if 0 < code < 10_000_000 else "other"
    if error.http_status is not None:
        return f"http_{error.http_status}" if 100 <= error.http_status < 600 else "http_other"
    return "network"


Call = Callable[P, Coroutine[Any, Any, R]]


def counts_graph_errors(request: str) -> Callable[[Call[P, R]], Call[P, R]]:
    """Count every `GraphApiError` the decorated Graph API call raises, by `request` and code."""

    def decorate(call: Call[P, R]) -> Call[P, R]:
        @functools.wraps(call)
        async def counted(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return await call(*args, **kwargs)
            except GraphApiError as error:
                GRAPH_API_ERRORS.labels(request, error_code(error)).inc()
                raise

        return counted

    return decorate
