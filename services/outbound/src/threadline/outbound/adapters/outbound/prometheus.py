"""Prometheus metrics of the outbound service (served on the ops port's `/metrics`)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from threadline.outbound.application.dispatcher import (
    DispatchResult,
    GaveUp,
    Refused,
    Sent,
    WillRetry,
)
from threadline.outbound.application.typing_indicators import NotShown, TooLate, TypingResult

DISPATCHES = Counter(
    "threadline_outbound_dispatches_total",
    "Queued messages handled, by result (sent, already_sent, refused, will_retry, gave_up).",
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
    "Time taken by one Graph API request, by request (send, read_receipt).",
    ["request"],
)


def count_dispatch(result: DispatchResult) -> None:
    DISPATCHES.labels(_label(result)).inc()


def count_typing_indicator(result: TypingResult) -> None:
    if isinstance(result, NotShown):
        TYPING_INDICATORS.labels("failed").inc()
    elif isinstance(result, TooLate):
        TYPING_INDICATORS.labels("stale").inc()
    else:
        TYPING_INDICATORS.labels("sent").inc()


def _label(result: DispatchResult) -> str:
    if isinstance(result, Sent):
        return "already_sent" if result.already_sent else "sent"
    return {Refused: "refused", WillRetry: "will_retry", GaveUp: "gave_up"}[type(result)]
