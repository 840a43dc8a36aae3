"""Where each projection has got to in the session's event log (its tracking record)."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection


async def lock_position(connection: AsyncConnection[Any], projection: str) -> int:
    """The last position `projection` committed, locked until the caller's transaction ends."""
    select = "SELECT position FROM analytics.projection_positions WHERE name = %s FOR UPDATE"
    row = await (await connection.execute(select, (projection,))).fetchone()
    if row is None:
        await connection.execute(
            "INSERT INTO analytics.projection_positions (name, position) VALUES (%s, 0)"
            " ON CONFLICT (name) DO NOTHING",
            (projection,),
        )
        row = await (await connection.execute(select, (projection,))).fetchone()
    return int(row[0]) if row else 0


async def save_position(connection: AsyncConnection[Any], projection: str, position: int) -> None:
    await connection.execute(
        "UPDATE analytics.projection_positions SET position = %s WHERE name = %s",
        (position, projection),
    )


async def read_position(connection: AsyncConnection[Any], projection: str) -> int:
    """The last position `projection` committed, without locking (0 before the first)."""
    cursor = await connection.execute(
        "SELECT position FROM analytics.projection_positions WHERE name = %s", (projection,)
    )
    row = await cursor.fetchone()
    return int(row[0]) if row else 0
