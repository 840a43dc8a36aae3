"""Schema version 8: a conversation's flow and the data collected from its customer (issue 12).

A conversation keeps, beside its flow's id, step and completion (version 2), the data the flow
collected (`session_data`, a JSON object by the flow's field keys), when the flow ends unless
the customer answers (`flow_expires_at`, NULL when its step named no expiry) and how the flow
stands (`flow_status`: running, completed, handed_off, expired; '' when no flow ran). A contact
keeps every field collected from the customer in any conversation, the latest value of each
(`data`), and the collected `email`. Rows projected before keep the defaults until a replay
rebuilds them. Applied once; never edited.
"""

from __future__ import annotations

from typing import LiteralString

STATEMENTS: tuple[LiteralString, ...] = (
    """
    ALTER TABLE analytics.conversations
        ADD COLUMN session_data jsonb NOT NULL DEFAULT '{}'::jsonb,
        ADD COLUMN flow_expires_at timestamptz,
        ADD COLUMN flow_status text NOT NULL DEFAULT ''
    """,
    """
    ALTER TABLE analytics.contacts
        ADD COLUMN email text NOT NULL DEFAULT '',
        ADD COLUMN data jsonb NOT NULL DEFAULT '{}'::jsonb
    """,
)
