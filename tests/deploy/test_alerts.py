"""deploy/prometheus/alerts.yml and the metrics dashboard are well formed and name only metrics
the services really export (collected from their registries: no promtool on PyPI)."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import Metric

REPO = Path(__file__).resolve().parents[2]
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "threadline-operations.json"
PROVISIONING = REPO / "deploy" / "grafana" / "provisioning" / "datasources" / "threadline.yaml"
# Every module that defines metrics (importing one registers its metrics).
METRIC_MODULES = (
    "threadline.servicekit.metrics",
    "threadline.servicekit.grpc_metrics",
    "threadline.messaging.dead_letters",
    "threadline.messaging.relay",
    "threadline.messaging.metrics",
    "threadline.ingest.adapters.outbound.prometheus",
    "threadline.ai_responder.adapters.outbound.prometheus",
    "threadline.outbound.adapters.outbound.prometheus",
    "threadline.analytics.adapters.outbound.prometheus",
    "threadline.gateway.adapters.outbound.prometheus",
    "threadline.session.adapters.outbound.prometheus",
)
PROMETHEUS_OWN = {"up", "scrape_duration_seconds"}
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created"),
    "gauge": ("",),
    "info": ("_info",),
}
DURATION = re.compile(r"^\d+[smhd]$")
SEVERITIES = {"warning", "critical"}
# PromQL words that look like metric names.
KEYWORDS = {
    "sum", "max", "min", "avg", "count", "by", "without", "rate", "increase", "delta",
    "histogram_quantile", "min_over_time", "max_over_time", "and", "or", "unless", "le",
    "on", "ignoring", "group_left", "group_right", "bool", "offset", "topk", "irate",
    "humanizePercentage", "abs", "clamp_min", "vector", "label_replace",
}  # fmt: skip


def exported_names() -> set[str]:
    """Every sample name the code can export."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    ingest = importlib.import_module("threadline.ingest.adapters.outbound.prometheus")
    own = CollectorRegistry()
    ingest.IngestMetrics(own)
    families: list[Metric] = [*REGISTRY.collect(), *own.collect()]
    names = set(PROMETHEUS_OWN)
    for family in families:
        for suffix in SUFFIXES.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names in a PromQL expression (not labels, functions, or strings)."""
    without_strings = re.sub(r'"[^"]*"', '""', expr)
    without_matchers = re.sub(r"\{[^}]*\}", "", without_strings)
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_matchers)
    without_groupings = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", without_ranges)
    words = set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", without_groupings))
    return {w for w in words if w not in KEYWORDS and not w.isdigit()}


@pytest.fixture(scope="module")
def exported() -> set[str]:
    return exported_names()


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_the_rule_file_has_the_shape_prometheus_loads() -> None:
    document = yaml.safe_load(ALERTS.read_text())

    assert set(document) == {"groups"}
    names = [group["name"] for group in document["groups"]]
    assert len(names) == len(set(names))
    for group in document["groups"]:
        assert set(group) <= {"name", "interval", "rules", "limit"}
        assert group["rules"]
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
            assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", rule["alert"])
            assert isinstance(rule["expr"], str) and rule["expr"].strip()
            assert "for" not in rule or DURATION.match(rule["for"])
            assert rule["labels"]["severity"] in SEVERITIES
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]
            assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]
    alerts = [rule["alert"] for rule in rules()]
    assert len(alerts) == len(set(alerts))


def test_every_alert_names_only_metrics_the_services_export(exported: set[str]) -> None:
    for rule in rules():
        unknown = metric_names(rule["expr"]) - exported
        assert not unknown, f"{rule['alert']} names metrics nobody exports: {unknown}"


def test_the_alerts_cover_lag_dead_letters_relay_and_error_rates() -> None:
    named = set().union(*(metric_names(rule["expr"]) for rule in rules()))

    assert {
        "threadline_consumer_pending_messages",
        "threadline_consumer_redelivered_messages",
        "threadline_dead_letters_total",
        "threadline_dead_letter_stream_messages",
        "threadline_relay_seconds_behind",
        "threadline_relay_pending_events",
        "threadline_grpc_server_handled_total",
        "threadline_graph_api_errors_total",
        "threadline_ingest_webhooks_total",
    } <= named


def test_the_dashboard_queries_only_exported_metrics_from_the_provisioned_prometheus(
    exported: set[str],
) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    datasources = yaml.safe_load(PROVISIONING.read_text())["datasources"]
    prometheus = [d for d in datasources if d["type"] == "prometheus"]

    assert len(prometheus) == 1
    uid = prometheus[0]["uid"]
    panels = dashboard["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    queried: set[str] = set()
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            unknown = metric_names(target["expr"]) - exported
            assert not unknown, f"{panel['title']} queries metrics nobody exports: {unknown}"
            queried |= metric_names(target["expr"])
    assert "threadline_consumer_pending_messages" in queried
    assert "threadline_ai_cost_usd_total" in queried


def test_the_name_reader_finds_metrics_not_labels_or_functions() -> None:
    expr = (
        'sum by (service, method) (rate(threadline_x_total{code=~"A|B"}[5m]))'
        " / on (job) histogram_quantile(0.9, sum by (le) (rate(y_bucket[1m]))) > 0.05"
    )
    assert metric_names(expr) == {"threadline_x_total", "y_bucket"}
