"""What ingest counts for Prometheus: webhooks by outcome, facts by kind, handling time."""

from __future__ import annotations

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
)

from threadline.messaging.dead_letters import DEAD_LETTERS
from threadline.servicekit.metrics import REFRESH_FAILURES


def service_registry() -> CollectorRegistry:
    """A registry of one service instance, with the process metrics the default one has and
    the process's dead-letter counter (`threadline_dead_letters_total`) and failed reads of
    JetStream before a scrape (`threadline_metrics_refresh_failures_total`)."""
    registry = CollectorRegistry()
    shared = (DEAD_LETTERS, REFRESH_FAILURES)
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR, *shared):
        registry.register(collector)
    return registry


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.webhooks = Counter(
            "threadline_ingest_webhooks",
            "Webhook deliveries, by outcome.",
            ["outcome"],
            registry=registry,
        )
        self.facts = Counter(
            "threadline_ingest_facts",
            "Facts published (duplicates included), by kind.",
            ["kind"],
            registry=registry,
        )
        self.duplicate_facts = Counter(
            "threadline_ingest_duplicate_facts",
            "Facts JetStream already had (webhooks WhatsApp sent again).",
            registry=registry,
        )
        self.ignored_changes = Counter(
            "threadline_ingest_ignored_changes",
            "Webhook changes that give no fact, by field.",
            ["field"],
            registry=registry,
        )
        self.rejected_parts = Counter(
            "threadline_ingest_rejected_parts",
            "Parts of signed webhooks (messages, statuses, changes) dead-lettered, by reason.",
            ["reason"],
            registry=registry,
        )
        self.fact_problems = Counter(
            "threadline_ingest_fact_problems",
            "Values ingest cleaned, cut short or clamped to keep a fact within its bounds.",
            registry=registry,
        )
        self.handling = Histogram(
            "threadline_ingest_webhook_seconds",
            "Time from receiving a webhook to answering it.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=registry,
        )
