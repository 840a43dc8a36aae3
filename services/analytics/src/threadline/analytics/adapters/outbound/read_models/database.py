"""The connection pool to the read models' database, and the readiness check on it."""

from __future__ import annotations

import json
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from psycopg import AsyncConnection
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool

from threadline.servicekit.ops_http import ReadinessCheck

POOL_NAME = "analytics"
APPLICATION_NAME = "threadline-analytics"
QUERY_POOL_NAME = "analytics-queries"
# The conversation queries' own connections: as many as the gRPC server has calls in flight
# that wait on the database at once before queueing for one is cheaper than another backend.
QUERY_POOL_SIZE = 8


async def open_pool(database_url: str) -> AsyncConnectionPool[Any]:
    """An open pool (waiting up to 30 s for its first connections) for the projection, the
    metrics and exports: each of their units of work is a transaction."""
    return await _open(database_url, name=POOL_NAME, min_size=2, max_size=10, autocommit=False)


async def open_query_pool(
    database_url: str, *, check: CheckUnlessRecent | None = None
) -> AsyncConnectionPool[Any]:
    """An open pool for the conversation queries: each statement on its own (autocommit).

    They read at READ COMMITTED, where every statement takes its own snapshot in a transaction
    too, so a transaction gave them nothing but a BEGIN and a COMMIT round trip per call
    (issue 15: ~5 % of `GetConversation`'s time in the service went to the COMMIT alone)."""
    return await _open(
        database_url,
        name=QUERY_POOL_NAME,
        min_size=2,
        max_size=QUERY_POOL_SIZE,
        autocommit=True,
        check=check or CheckUnlessRecent(),
        configure=_quick_json,
    )


async def _quick_json(connection: AsyncConnection[Any]) -> None:
    """jsonb read with orjson: decoding the rows' jsonb with the standard library was ~12 % of
    `GetConversation`'s CPU in the service (issue 15), orjson is 4-30 times quicker a value."""
    set_json_loads(json_loads, connection)


def json_loads(data: bytes | str) -> Any:
    """orjson's reading (the standard library's where orjson refuses the text). The same
    values as `json.loads` but for an integer past 64 bits, which orjson reads as a float:
    the projection already parses the customers' metadata with orjson before storing it, and
    every other jsonb value is the platform's own."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


class CheckUnlessRecent:
    """The pool's check on taking a connection: `SELECT 1` (psycopg_pool's `check_connection`)
    only for a connection that has been idle `quiet_seconds` or more.

    Under load a connection goes back and out again within milliseconds, and the check's round
    trip was ~11 % of `GetConversation`'s time in the service; a connection idle for a while
    (the database restarted, a proxy closed it) is still checked and replaced before use. A
    connection that breaks within `quiet_seconds` of its last use fails one call, as any
    connection breaking mid-call would."""

    def __init__(self, quiet_seconds: float = 1.0) -> None:
        self.quiet_seconds = quiet_seconds
        self.checks = 0  # how many `SELECT 1`s it ran
        self._returned: weakref.WeakKeyDictionary[AsyncConnection[Any], float] = (
            weakref.WeakKeyDictionary()
        )

    async def check(self, connection: AsyncConnection[Any]) -> None:
        returned = self._returned.get(connection)
        if returned is not None and time.monotonic() - returned < self.quiet_seconds:
            return
        self.checks += 1
        await AsyncConnectionPool.check_connection(connection)

    async def returned(self, connection: AsyncConnection[Any]) -> None:
        self._returned[connection] = time.monotonic()


async def _open(
    database_url: str,
    *,
    name: str,
    min_size: int,
    max_size: int,
    autocommit: bool,
    check: CheckUnlessRecent | None = None,
    configure: Callable[[AsyncConnection[Any]], Awaitable[None]] | None = None,
) -> AsyncConnectionPool[Any]:
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        name=name,
        check=check.check if check else AsyncConnectionPool.check_connection,
        reset=check.returned if check else None,
        configure=configure,
        kwargs={"application_name": APPLICATION_NAME, "autocommit": autocommit},
    )
    await pool.open(wait=True, timeout=30.0)
    return pool


def database_check(pool: AsyncConnectionPool[Any]) -> ReadinessCheck:
    """Ready while the database answers a query."""

    async def check() -> str | None:
        try:
            async with pool.connection(timeout=2.0) as connection:
                await connection.execute("SELECT 1")
        except Exception as error:
            return f"database unreachable: {error}"
        return None

    return check
