"""Metrics read just before a scrape: values kept elsewhere (a JetStream consumer's pending
messages, the event store's last position) are fetched by a `Refresher`, bounded in time and
shared by scrapes that arrive together, and the collectors then answer from what was read."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from prometheus_client import Counter

log = logging.getLogger(__name__)

Refresh = Callable[[], Awaitable[None]]

REFRESH_FAILURES = Counter(
    "threadline_metrics_refresh_failures_total",
    "Reads before a scrape that failed or timed out (their gauges are left out meanwhile), "
    "by what was read.",
    ["source"],
)


class Refresher:
    """`read` at most once per `min_interval` seconds (scrapes in between get what was read),
    each read bounded by `timeout`; a failure is logged and counted, never raised."""

    def __init__(
        self,
        source: str,
        read: Refresh,
        *,
        min_interval: float = 1.0,
        timeout: float = 2.0,
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.source = source
        self._read = read
        self._min_interval = min_interval
        self._timeout = timeout
        self._on_failure = on_failure
        self._lock = asyncio.Lock()
        self._last: float | None = None

    async def __call__(self) -> None:
        async with self._lock:
            now = time.monotonic()
            if self._last is not None and now - self._last < self._min_interval:
                return
            try:
                async with asyncio.timeout(self._timeout):
                    await self._read()
            except Exception as error:
                REFRESH_FAILURES.labels(self.source).inc()
                log.warning("reading %s for /metrics failed: %r", self.source, error)
                if self._on_failure is not None:
                    self._on_failure(error)
            finally:
                self._last = time.monotonic()


async def refresh_all(refreshers: Iterable[Refresh]) -> None:
    """Run every refresher at once; each bounds itself and never raises."""
    await asyncio.gather(*(refresh() for refresh in refreshers))
