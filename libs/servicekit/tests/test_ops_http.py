"""The ops server's /metrics: prometheus_client's handler, negotiating OpenMetrics, and the
reads done before a scrape (bounded, shared, never failing the scrape)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

from threadline.servicekit.metrics import Refresher
from threadline.servicekit.ops_http import OpsServer

OPENMETRICS = "application/openmetrics-text"


async def scrape(port: int, accept: str | None = None) -> tuple[str, str]:
    headers = {"Accept": accept} if accept else {}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics", headers=headers) as response,
    ):
        assert response.status == 200
        return response.headers["Content-Type"], await response.text()


@pytest.fixture
async def registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("threadline_example_total", "An example.", registry=registry).inc(3)
    return registry


async def test_metrics_are_text_by_default_and_openmetrics_when_asked(
    registry: CollectorRegistry,
) -> None:
    ops = OpsServer(host="127.0.0.1", port=0, registry=registry)
    await ops.start()
    try:
        text_type, text = await scrape(ops.port)
        open_type, open_body = await scrape(ops.port, f"{OPENMETRICS}; version=1.0.0")
    finally:
        await ops.stop()

    assert text_type.startswith("text/plain")
    assert "threadline_example_total 3.0" in text
    assert "# EOF" not in text
    assert open_type.startswith(OPENMETRICS)
    assert "threadline_example_total 3.0" in open_body
    assert open_body.rstrip().endswith("# EOF")


async def test_refreshers_run_before_a_scrape_once_for_scrapes_together(
    registry: CollectorRegistry,
) -> None:
    reads = 0
    gauge = Gauge("threadline_example_read", "Set by a read.", registry=registry)

    async def read() -> None:
        nonlocal reads
        reads += 1
        await asyncio.sleep(0.05)
        gauge.set(reads)

    ops = OpsServer(
        host="127.0.0.1",
        port=0,
        registry=registry,
        refreshers=[Refresher("example", read, min_interval=60.0)],
    )
    await ops.start()
    try:
        bodies = await asyncio.gather(*(scrape(ops.port) for _ in range(3)))
    finally:
        await ops.stop()

    assert reads == 1
    assert all("threadline_example_read 1.0" in body for _, body in bodies)


async def test_a_read_that_fails_or_hangs_is_counted_and_the_scrape_still_answers(
    registry: CollectorRegistry,
) -> None:
    async def fails() -> None:
        raise ConnectionError("nats is away")

    async def hangs() -> None:
        await asyncio.sleep(3600)

    def failures(source: str) -> float:
        value = REGISTRY.get_sample_value(
            "threadline_metrics_refresh_failures_total", {"source": source}
        )
        return value or 0.0

    before = failures("fails"), failures("hangs")
    ops = OpsServer(
        host="127.0.0.1",
        port=0,
        registry=registry,
        refreshers=[Refresher("fails", fails), Refresher("hangs", hangs, timeout=0.1)],
    )
    await ops.start()
    try:
        _, body = await scrape(ops.port)
    finally:
        await ops.stop()

    assert "threadline_example_total 3.0" in body
    assert (failures("fails"), failures("hangs")) == (before[0] + 1, before[1] + 1)


async def test_probes_still_answer(registry: CollectorRegistry) -> None:
    async def broken() -> str | None:
        return "down"

    ops = OpsServer(host="127.0.0.1", port=0, registry=registry, checks={"db": broken})
    await ops.start()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{ops.port}/healthz") as live:
                assert live.status == 200
            async with session.get(f"http://127.0.0.1:{ops.port}/readyz") as ready:
                assert ready.status == 503
                assert (await ready.json())["problems"] == {"db": "down"}
    finally:
        await ops.stop()
