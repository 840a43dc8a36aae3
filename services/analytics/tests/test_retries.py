from __future__ import annotations

import psycopg
import pytest
from psycopg_pool import PoolClosed

from threadline.analytics.retries import Backoff, is_transient, until_done


class Flaky:
    """Fails with `error` the first `failures` times, then answers "done"."""

    def __init__(self, error: Exception, failures: int) -> None:
        self.error, self.failures, self.calls = error, failures, 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "done"


async def no_sleep(_: float) -> None:
    return None


def test_delays_double_up_to_the_limit() -> None:
    backoff = Backoff(first=0.5, limit=3.0)

    assert [backoff.delay(attempt) for attempt in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_lost_connections_are_transient_and_bad_data_is_not() -> None:
    assert is_transient(psycopg.OperationalError("server closed the connection"))
    assert not is_transient(psycopg.DataError("invalid input syntax"))
    assert not is_transient(PoolClosed("the pool is closed"))


async def test_a_transient_failure_is_waited_out() -> None:
    operation = Flaky(psycopg.OperationalError("connection refused"), failures=3)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    assert await until_done(operation, backoff=Backoff(first=0.1, limit=1.0), sleep=sleep) == "done"
    assert slept == [0.1, 0.2, 0.4]


async def test_a_permanent_failure_is_raised_at_once() -> None:
    operation = Flaky(psycopg.errors.UniqueViolation("duplicate key"), failures=1)

    with pytest.raises(psycopg.errors.UniqueViolation):
        await until_done(operation, sleep=no_sleep)
    assert operation.calls == 1
