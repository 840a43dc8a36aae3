"""The faults, one after another, spread over the load: SIGKILL, a moment down, start again,
wait until every service answers /readyz."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from tests.chaos.processes import CrashableNats, CrashablePostgres, Services

log = logging.getLogger("chaos")


@dataclass(frozen=True, slots=True)
class Fault:
    target: str
    killed_at: float  # seconds since the load began
    down_for: float  # from the kill until it was started again
    ready_after: float  # from the new start until every service was ready
    killed_wall: datetime  # to set against the sandbox's clock


async def inject(
    order: tuple[str, ...],
    *,
    services: Services,
    nats: CrashableNats,
    postgres: CrashablePostgres,
    began: float,
    duration: float,
    downtime: float,
    ready_timeout: float,
) -> list[Fault]:
    """Kill each target in `order` at evenly spread times over `duration` seconds (later when
    the previous one is not ready yet)."""
    done: list[Fault] = []
    for index, target in enumerate(order):
        at = began + duration * (index + 1) / (len(order) + 1)
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        killed, killed_wall = time.monotonic(), datetime.now(UTC)
        if target == "nats":
            await asyncio.to_thread(nats.crash)
        elif target == "postgres":
            await asyncio.to_thread(postgres.crash)
        else:
            await asyncio.to_thread(services.by_name[target].kill)
        log.info("t=%5.1fs  killed %s (SIGKILL)", killed - began, target)
        await asyncio.sleep(downtime)
        restarted = time.monotonic()
        if target == "nats":
            await asyncio.to_thread(nats.start)
        elif target == "postgres":
            await asyncio.to_thread(postgres.start)
        else:
            services.by_name[target].start()
        ready = await services.wait_ready(ready_timeout)
        log.info(
            "t=%5.1fs  %s started again; every service ready %.1fs later",
            restarted - began,
            target,
            ready,
        )
        done.append(Fault(target, killed - began, restarted - killed, ready, killed_wall))
    return done
