"""The live projection's `ProjectionStore`: its transactions on the read models.

Each runs holding the projections lock (a replay's switch waits for it, `lock`), reads and
locks the projection's position (`positions`), writes the batch's changes (`writer`) and
saves the new position. Database trouble is ridden out (`retries`); a closed pool and a
message id already projected are told apart as the application's `ReadModelsClosed` and
`DuplicateMessage`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolClosed

from threadline.analytics.adapters.outbound.read_models.lock import hold_projections_lock
from threadline.analytics.adapters.outbound.read_models.positions import (
    lock_position,
    read_position,
    save_position,
)
from threadline.analytics.adapters.outbound.read_models.retries import (
    DEFAULT_BACKOFF,
    Backoff,
    until_done,
)
from threadline.analytics.adapters.outbound.read_models.writer import write
from threadline.analytics.application.write.ports import (
    DuplicateMessage,
    ProjectionWrite,
    ReadModelsClosed,
)
from threadline.analytics.domain.write.changes import Changes
from threadline.messaging.failures import describe

T = TypeVar("T")

DUPLICATE_TABLES = frozenset({"messages", "response_facts"})
UNIQUE_VIOLATION = "23505"


class _Transaction:
    """`ProjectionWrite` on one connection, inside its transaction."""

    def __init__(self, connection: AsyncConnection[Any], projection: str) -> None:
        self._connection, self._projection = connection, projection

    async def position(self) -> int:
        return await lock_position(self._connection, self._projection)

    async def write(self, changes: Changes) -> None:
        await write(self._connection, changes)

    async def save_position(self, position: int) -> None:
        await save_position(self._connection, self._projection, position)


class PostgresProjectionStore:
    def __init__(
        self, pool: AsyncConnectionPool[Any], *, backoff: Backoff = DEFAULT_BACKOFF
    ) -> None:
        self._pool = pool
        self._backoff = backoff

    async def position(self, projection: str) -> int:
        try:
            async with self._pool.connection() as connection:
                return await read_position(connection, projection)
        except PoolClosed as error:
            raise ReadModelsClosed(str(error)) from error

    async def run(self, projection: str, work: Callable[[ProjectionWrite], Awaitable[T]]) -> T:
        async def once() -> T:
            async with self._pool.connection() as connection, connection.transaction():
                await hold_projections_lock(connection)  # a replay switches schemas between
                return await work(_Transaction(connection, projection))  # batches

        try:
            return await until_done(once, backoff=self._backoff)
        except PoolClosed as error:
            raise ReadModelsClosed(str(error)) from error
        except Exception as error:
            if known_duplicate(error):
                raise DuplicateMessage(describe(error, limit=300)) from error
            raise


def known_duplicate(error: BaseException) -> bool:
    """A message (or its response fact) inserted under an id already projected."""
    diag = getattr(error, "diag", None)
    return (
        getattr(error, "sqlstate", None) == UNIQUE_VIOLATION
        and getattr(diag, "table_name", None) in DUPLICATE_TABLES
    )
