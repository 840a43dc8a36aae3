"""Schema version 6: a voice note's transcript beside its attachment (issue 11 item 2).

The attachment row of a message keeps what the transcriber heard (text, language, model,
duration) or why nothing was heard; `ConversationQueries.ListAttachments` returns it with the
attachment. A transcript whose attachment was not projected yet creates the row, `pending`
until the attachment's own event fills it. Rows projected before keep the defaults ('' /
0 / NULL: no transcript) until a replay rebuilds them. Applied once; never edited.
"""

from __future__ import annotations

from typing import LiteralString

STATEMENTS: tuple[LiteralString, ...] = (
    """
    ALTER TABLE analytics.attachments
        ADD COLUMN transcript_status text NOT NULL DEFAULT '',
        ADD COLUMN transcript text NOT NULL DEFAULT '',
        ADD COLUMN transcript_language text NOT NULL DEFAULT '',
        ADD COLUMN transcript_model text NOT NULL DEFAULT '',
        ADD COLUMN transcript_seconds double precision NOT NULL DEFAULT 0,
        ADD COLUMN transcript_reason text NOT NULL DEFAULT '',
        ADD COLUMN transcript_at timestamptz
    """,
)
