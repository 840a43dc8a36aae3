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
    lock_positions,
    read_positions,
    save_positions,
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
from threadline.analytics.domain.write.positions import Positions
from threadline.messaging.failures import describe

T = TypeVar("T")

DUPLICATE_TABLES = frozenset({"messages", "response_facts"})
UNIQUE_VIOLATION = "23505"


class _Transaction:
    """`ProjectionWrite` on one connection, inside its transaction."""

    def __init__(self, connection: AsyncConnection[Any], projection: str, partitions: int) -> None:
        self._connection, self._projection = connection, projection
        self._partitions = partitions

    async def positions(self) -> Positions:
        return await lock_positions(self._connection, self._projection, self._partitions)

    async def write(self, changes: Changes) -> None:
        await write(self._connection, changes)

    async def save_positions(self, positions: Positions) -> None:
        await save_positions(self._connection, self._projection, positions)


class PostgresProjectionStore:
    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        *,
        backoff: Backoff = DEFAULT_BACKOFF,
        partitions: int = 1,
    ) -> None:
        """`partitions`: how many partitions the session relays its events in (the
        projection keeps a position in each)."""
        self._pool = pool
        self._backoff = backoff
        self._partitions = partitions

    async def positions(self, projection: str) -> Positions:
        try:
            async with self._pool.connection() as connection:
                return await read_positions(connection, projection)
        except PoolClosed as error:
            raise ReadModelsClosed(str(error)) from error

    async def run(self, projection: str, work: Callable[[ProjectionWrite], Awaitable[T]]) -> T:
        async def once() -> T:
            async with self._pool.connection() as connection, connection.transaction():
                await hold_projections_lock(connection)  # a replay switches schemas between
                return await work(_Transaction(connection, projection, self._partitions))  # batches

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
