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

DISPATCHES = Counter(
    "threadline_outbound_dispatches_total",
    "Queued messages handled, by result (sent, already_sent, refused, will_retry, gave_up).",
    ["result"],
)
GRAPH_API_SECONDS = Histogram(
    "threadline_outbound_graph_api_seconds",
    "Time taken by one Graph API send request.",
)


def count_dispatch(result: DispatchResult) -> None:
    DISPATCHES.labels(_label(result)).inc()


def _label(result: DispatchResult) -> str:
    if isinstance(result, Sent):
        return "already_sent" if result.already_sent else "sent"
    return {Refused: "refused", WillRetry: "will_retry", GaveUp: "gave_up"}[type(result)]
