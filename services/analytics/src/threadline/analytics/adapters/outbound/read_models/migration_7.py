"""Schema version 7: what the assistant's model saw in the customer's images (issue 11 item 3).

An AI reply keeps the model's `interpretation` of the images it was shown, as the session
queued it ('' when it was shown none). Rows projected before keep '' until a replay rebuilds
them. Applied once; never edited.
"""

from __future__ import annotations

from typing import LiteralString

STATEMENTS: tuple[LiteralString, ...] = (
    """
    ALTER TABLE analytics.messages
        ADD COLUMN interpretation text NOT NULL DEFAULT ''
    """,
)
