"""The lock the live projection and a replay's switch-over share.

The live projector takes it first in every batch transaction, before it reads or writes a table;
`threadline replay` takes it to catch up and rename schemas, and to rebuild one conversation. A
batch therefore either commits entirely before a switch (into the old tables, which the rebuilt
ones then also hold) or starts after it and resolves every `analytics.` name to the new tables.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

PROJECTIONS_LOCK = 0x74686C6E70726A73  # "thlnprjs": one transaction-scoped advisory lock
HOLD = "SELECT pg_advisory_xact_lock(%s)"


async def hold_projections_lock(connection: AsyncConnection[Any]) -> None:
    """Hold the lock until the caller's transaction ends (waiting for a holder to finish)."""
    await connection.execute(HOLD, (PROJECTIONS_LOCK,))
