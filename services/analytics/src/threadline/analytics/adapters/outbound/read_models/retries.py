"""Riding out transient database trouble (a restart, a fail-over, a lost connection).

The projection must not skip ahead of an event it could not commit, so it waits for the
database rather than handing the batch back for redelivery behind later events. What kind of
failure an error is comes from `threadline.messaging.failures`: an unavailable database is
waited for as long as it takes; a transient failure (a deadlock, a serialization failure, a
timeout) is tried again a few times and then raised, so that one event that keeps failing is
dead-lettered alone instead of stopping the projection; a permanent one is raised at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from psycopg_pool import PoolClosed

from threadline.messaging.failures import Backoff, Failure, classify, describe

__all__ = ["DEFAULT_BACKOFF", "TRANSIENT_ATTEMPTS", "Backoff", "is_transient", "until_done"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

DEFAULT_BACKOFF = Backoff(first=0.1, limit=5.0)
TRANSIENT_ATTEMPTS = 4


def is_transient(error: BaseException) -> bool:
    """Whether trying the same statements again later may succeed."""
    if isinstance(error, PoolClosed):
        return False  # we are shutting down: nothing will get better
    return classify(error).retryable


async def until_done(
    operation: Callable[[], Awaitable[T]],
    *,
    backoff: Backoff = DEFAULT_BACKOFF,
    sleep: Sleep = asyncio.sleep,
    attempts: int = TRANSIENT_ATTEMPTS,
) -> T:
    """Run `operation` until it succeeds; wait out an unavailable database, try a transient
    failure `attempts` times in all, raise anything else."""
    attempt = transient = 0
    while True:
        try:
            return await operation()
        except Exception as error:
            if isinstance(error, PoolClosed):
                raise
            kind = classify(error)
            if kind is Failure.PERMANENT:
                raise
            if kind is Failure.TRANSIENT:
                transient += 1
                if transient >= attempts:
                    raise
            delay = backoff.delay(attempt)
            log.warning("database %s (%s); retrying in %.1fs", kind.value, describe(error), delay)
            attempt += 1
            await sleep(delay)
