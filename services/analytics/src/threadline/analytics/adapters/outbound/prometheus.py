"""Prometheus metrics of the projection (served on the ops port's `/metrics`)."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Counter, Gauge

from threadline.messaging.consumer import ACK, DeadLetter, Settlement

EVENTS = Counter(
    "threadline_analytics_events_total",
    "Session events handled by the projections, by outcome.",
    ["outcome"],
)
DUPLICATES = Counter(
    "threadline_analytics_duplicate_messages_total",
    "Events adding a message whose id was already projected (the first is kept).",
)
GAP_FILLS = Counter(
    "threadline_analytics_gap_events_total",
    "Events read back from the stream because a consumer stopped before acknowledging them.",
)
POSITION_GAUGE = Gauge(
    "threadline_analytics_projection_position",
    "The last event-log position committed by the projection.",
    ["projection"],
)


class PrometheusReport:
    """The live projection's `ProjectionReport`."""

    def duplicate(self) -> None:
        DUPLICATES.inc()

    def gap_filled(self, events: int) -> None:
        GAP_FILLS.inc(events)

    def reached(self, projection: str, position: int) -> None:
        POSITION_GAUGE.labels(projection).set(position)


def count_settled(settlements: Sequence[Settlement]) -> None:
    dead = sum(isinstance(settlement, DeadLetter) for settlement in settlements)
    EVENTS.labels("projected").inc(sum(settlement is ACK for settlement in settlements))
    if dead:
        EVENTS.labels("dead_lettered").inc(dead)
