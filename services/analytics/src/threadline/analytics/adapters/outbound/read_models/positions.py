"""Where each projection has got to in the session's event log (its tracking records).

One row per partition of the session's events (`Positions`): partition 0 under the
projection's name — the one row of before partitioning — and partition k under
`<name>/p<k>`. A partition without a row yet starts where partition 0 is: until the first
transaction that knows of several partitions, partition 0's position held for the whole log.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from threadline.analytics.domain.write.positions import Positions

_TABLE = "analytics.projection_positions"


def row_name(projection: str, partition: int) -> str:
    return projection if partition == 0 else f"{projection}/p{partition}"


def row_pattern(projection: str) -> str:
    """A LIKE pattern matching the rows of partitions 1 and up."""
    escaped = projection.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}/p%"


def positions_of(projection: str, rows: list[tuple[str, int]]) -> Positions:
    """The positions the rows say (any partition without a row: partition 0's)."""
    found = dict(rows)
    first = int(found.get(projection, 0))
    partitions = 1
    for name in found:
        suffix = name.removeprefix(f"{projection}/p")
        if name != projection and suffix.isdigit():
            partitions = max(partitions, int(suffix) + 1)
    return Positions(
        tuple(int(found.get(row_name(projection, k), first)) for k in range(partitions))
    )


async def lock_positions(
    connection: AsyncConnection[Any], projection: str, partitions: int
) -> Positions:
    """The last positions `projection` committed in each of `partitions`, locked until the
    caller's transaction ends (rows missing are made first)."""
    names = [row_name(projection, k) for k in range(partitions)]
    select = f"SELECT name, position FROM {_TABLE} WHERE name = ANY(%s) ORDER BY name FOR UPDATE"
    rows = await (await connection.execute(select, (names,))).fetchall()
    if len(rows) < len(names):
        await connection.execute(
            f"INSERT INTO {_TABLE} (name, position) VALUES (%s, 0) ON CONFLICT (name) DO NOTHING",
            (projection,),
        )
        await connection.execute(
            f"INSERT INTO {_TABLE} (name, position)"
            f" SELECT n, (SELECT position FROM {_TABLE} WHERE name = %s)"
            " FROM unnest(%s::text[]) AS n ON CONFLICT (name) DO NOTHING",
            (projection, names[1:]),
        )
        rows = await (await connection.execute(select, (names,))).fetchall()
    found = {str(name): int(position) for name, position in rows}
    return Positions(tuple(found[name] for name in names))


async def save_positions(
    connection: AsyncConnection[Any], projection: str, positions: Positions
) -> None:
    names = [row_name(projection, k) for k in range(positions.partitions)]
    await connection.execute(
        f"UPDATE {_TABLE} AS p SET position = v.position"
        " FROM unnest(%s::text[], %s::int8[]) AS v (name, position)"
        " WHERE p.name = v.name AND p.position <> v.position",
        (names, list(positions.values)),
    )


async def read_positions(connection: AsyncConnection[Any], projection: str) -> Positions:
    """The last positions `projection` committed, without locking (0 before the first)."""
    cursor = await connection.execute(
        f"SELECT name, position FROM {_TABLE} WHERE name = %s OR name LIKE %s",
        (projection, row_pattern(projection)),
    )
    rows = await cursor.fetchall()
    return positions_of(projection, [(str(name), int(position)) for name, position in rows])
