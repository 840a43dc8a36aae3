"""Riding out transient database trouble (a restart, a fail-over, a lost connection).

The projection must not skip ahead of an event it could not commit, so it waits for the
database rather than handing the batch back for redelivery behind later events.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import psycopg
from psycopg_pool import PoolClosed

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays that double from `first` up to `limit` seconds."""

    first: float = 0.1
    limit: float = 5.0

    def delay(self, attempt: int) -> float:
        return float(min(self.first * 2 ** min(attempt, 32), self.limit))


DEFAULT_BACKOFF = Backoff()


def is_transient(error: BaseException) -> bool:
    """Whether trying the same statements again later may succeed."""
    if isinstance(error, PoolClosed):
        return False  # we are shutting down: nothing will get better
    return isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)


async def until_done(
    operation: Callable[[], Awaitable[T]],
    *,
    backoff: Backoff = DEFAULT_BACKOFF,
    sleep: Sleep = asyncio.sleep,
) -> T:
    """Run `operation` until it succeeds or fails with an error that is not transient."""
    attempt = 0
    while True:
        try:
            return await operation()
        except Exception as error:
            if not is_transient(error):
                raise
            delay = backoff.delay(attempt)
            log.warning("database unavailable (%s); retrying in %.1fs", error, delay)
            attempt += 1
            await sleep(delay)
