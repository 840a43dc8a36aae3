"""The analytics service in a process of its own, and the CPU time each party spends.

The service runs as `start_analytics` builds it, its collector settled as `service_main`
settles it, in a child process (spawned, so it owns an interpreter and an event loop): the
benchmark's clients and the server then compete for the cores as separate processes would
in production, and their CPU use can be told apart.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from tests.bench.cpu import cpu_seconds, machine_busy, tree_cpu_seconds
from threadline.analytics.bootstrap import bootstrap as start_analytics
from threadline.analytics.config import AnalyticsConfig
from threadline.servicekit.collector import settle_after_start

START_TIMEOUT = 60.0


def _serve(config: AnalyticsConfig, ready: Event, stop: Event) -> None:
    logging.basicConfig(level=logging.WARNING)

    async def serve() -> None:
        async with AsyncExitStack() as stack:
            await start_analytics(config, stack)
            settle_after_start()  # as `service_main` does once a service has started
            ready.set()
            await asyncio.to_thread(stop.wait)

    asyncio.run(serve())


@contextmanager
def analytics_process(config: AnalyticsConfig) -> Iterator[int]:
    """Run the service until the block ends; yields the child's pid once it serves."""
    with spawned(_serve, config, name="analytics") as pid:
        yield pid


@contextmanager
def spawned(
    target: Callable[[Any, Event, Event], None], argument: Any, *, name: str
) -> Iterator[int]:
    """`target(argument, ready, stop)` in a spawned process until the block ends; yields its pid
    once it has set `ready`. Leaving the block sets `stop` and waits for it to end."""
    context = multiprocessing.get_context("spawn")
    ready, stop = context.Event(), context.Event()
    process = context.Process(target=target, args=(argument, ready, stop), name=name)
    process.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not ready.wait(0.1):
            if not process.is_alive():
                raise RuntimeError(f"{name} exited with code {process.exitcode} at start")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start within {START_TIMEOUT:.0f} s")
        assert process.pid is not None
        yield process.pid
    finally:
        stop.set()
        process.join(15)
        if process.is_alive():
            process.kill()
            process.join()


@dataclass(frozen=True, slots=True)
class CpuParties:
    """The processes whose CPU time a benchmark phase reports."""

    client: int
    server: int
    postmaster: int
    more_servers: tuple[int, ...] = ()  # further reader processes, counted with the server

    def sample(self) -> tuple[float, float, float, float]:
        """CPU seconds so far of the client, the server(s), PostgreSQL (all its processes), and
        of the whole machine (so that what other processes took shows)."""
        server = sum(cpu_seconds(pid) for pid in (self.server, *self.more_servers))
        postgres = tree_cpu_seconds(self.postmaster)
        return cpu_seconds(self.client), server, postgres, machine_busy()


def postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
