"""What the session counts for Prometheus (served on the ops port's `/metrics`, beside its
consumers' and relay's lag): facts by outcome, and the time to record a batch of them."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Counter, Histogram

from threadline.session.application.outcomes import Applied, Ignored, NotYet, Outcome, Rejected

FACTS = Counter(
    "threadline_session_facts_total",
    "Facts from ingest, the AI responder and outbound, by outcome: applied, ignored (nothing "
    "to change), not_yet (retried later), rejected (dead-lettered), unread (not a fact the "
    "session records, or undecodable).",
    ["outcome"],
)
RECORD_SECONDS = Histogram(
    "threadline_session_record_seconds",
    "Time to record one batch of facts in the event store (one transaction).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def count_outcomes(outcomes: Sequence[Outcome], *, unread: int = 0) -> None:
    counts = {"applied": 0, "ignored": 0, "not_yet": 0, "rejected": 0, "unread": unread}
    for outcome in outcomes:
        match outcome:
            case Applied():
                counts["applied"] += 1
            case Ignored():
                counts["ignored"] += 1
            case NotYet():
                counts["not_yet"] += 1
            case Rejected():
                counts["rejected"] += 1
    for label, count in counts.items():
        if count:
            FACTS.labels(label).inc(count)
