"""Prometheus metrics of the outbound service (served on the ops port's `/metrics`)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

DISPATCHES = Counter(
    "threadline_outbound_dispatches_total",
    "Queued messages handled, by result (sent, already_sent, refused, will_retry, gave_up).",
    ["result"],
)
GRAPH_API_SECONDS = Histogram(
    "threadline_outbound_graph_api_seconds",
    "Time taken by one Graph API send request.",
)
