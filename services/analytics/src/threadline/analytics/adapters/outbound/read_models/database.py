"""The connection pool to the read models' database, and the readiness check on it."""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from threadline.servicekit.ops_http import ReadinessCheck

POOL_NAME = "analytics"
APPLICATION_NAME = "threadline-analytics"


async def open_pool(database_url: str) -> AsyncConnectionPool[Any]:
    """An open pool (waiting up to 30 s for its first connections)."""
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        database_url,
        min_size=2,
        max_size=10,
        open=False,
        name=POOL_NAME,
        check=AsyncConnectionPool.check_connection,
        kwargs={"application_name": APPLICATION_NAME},
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
