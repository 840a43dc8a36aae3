"""Schema version 3: listing conversations by status, within a business number or across them.

A status filter (`ListConversations`, `GetMetrics`, exports) used to count its matches with a
sequential scan of every conversation and to page through the activity index discarding the
other statuses; `make bench` measured the count at 20-60 ms per request over 100,000
conversations (docs/benchmarks.md). These indexes serve the count with an index-only scan of
the matching rows and the page in the listing's order: one for callers that see every number,
one for callers scoped to theirs (`business_number = ANY(...)`). Applied once; never edited.
"""

from __future__ import annotations

from typing import LiteralString

STATEMENTS: tuple[LiteralString, ...] = (
    """
    CREATE INDEX conversations_by_status
        ON analytics.conversations (status, last_activity_at DESC, id DESC)
    """,
    """
    CREATE INDEX conversations_by_number_and_status
        ON analytics.conversations (business_number, status, last_activity_at DESC, id DESC)
    """,
)
