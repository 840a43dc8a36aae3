from __future__ import annotations

import psycopg
import psycopg.errors
import pytest
from psycopg_pool import PoolClosed

from threadline.analytics.adapters.outbound.read_models.retries import (
    Backoff,
    is_transient,
    until_done,
)


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


def test_delays_double_up_to_the_limit_with_jitter_below_each() -> None:
    backoff = Backoff(first=0.5, limit=3.0)

    assert [backoff.ceiling(attempt) for attempt in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert [backoff.delay(attempt, rng=lambda: 0.0) for attempt in range(3)] == [0.25, 0.5, 1.0]


def test_lost_connections_are_transient_and_bad_data_is_not() -> None:
    assert is_transient(psycopg.OperationalError("server closed the connection"))
    assert is_transient(psycopg.errors.DeadlockDetected("deadlock detected"))
    assert not is_transient(psycopg.DataError("invalid input syntax"))
    assert not is_transient(psycopg.errors.ProgramLimitExceeded("index row size exceeds"))
    assert not is_transient(PoolClosed("the pool is closed"))


async def test_an_unavailable_database_is_waited_out_however_long() -> None:
    operation = Flaky(psycopg.OperationalError("connection refused"), failures=30)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    backoff = Backoff(first=0.1, limit=1.0)
    assert await until_done(operation, backoff=backoff, sleep=sleep) == "done"
    assert len(slept) == 30
    assert 0.05 <= slept[0] <= 0.1 and all(0.5 <= s <= 1.0 for s in slept[5:])


async def test_a_transient_failure_is_tried_a_few_times_then_raised() -> None:
    operation = Flaky(psycopg.errors.SerializationFailure("could not serialize"), failures=99)

    with pytest.raises(psycopg.errors.SerializationFailure):
        await until_done(operation, sleep=no_sleep, attempts=4)
    assert operation.calls == 4


async def test_a_limit_exceeded_is_permanent_though_an_operational_error() -> None:
    """Reproduction (issue 8): ProgramLimitExceeded subclasses OperationalError and was
    retried every 5 s forever, stopping the projection for everyone."""
    operation = Flaky(psycopg.errors.ProgramLimitExceeded("index row size 3016"), failures=1)

    with pytest.raises(psycopg.errors.ProgramLimitExceeded):
        await until_done(operation, sleep=no_sleep)
    assert operation.calls == 1


async def test_a_permanent_failure_is_raised_at_once() -> None:
    operation = Flaky(psycopg.errors.UniqueViolation("duplicate key"), failures=1)

    with pytest.raises(psycopg.errors.UniqueViolation):
        await until_done(operation, sleep=no_sleep)
    assert operation.calls == 1
