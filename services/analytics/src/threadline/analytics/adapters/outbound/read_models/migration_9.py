"""Schema version 9: what an AI reply cited, and the assistant's tool calls (issue 12).

A reply keeps the knowledge-base passages it used (`messages.citations`, a JSON array of
`{passage_id, document, knowledge_base, score, snippet}` as the session queued them; `[]` for
none). `tool_calls` keeps each call of a business's HTTP tool the session recorded on a
conversation, once per call id: the tool, its arguments, how it went, when. What the tool
answered stays in the session's event log. Rows projected before keep `[]` / no calls until a
replay rebuilds them. Applied once; never edited.
"""

from __future__ import annotations

from typing import LiteralString

STATEMENTS: tuple[LiteralString, ...] = (
    """
    ALTER TABLE analytics.messages
        ADD COLUMN citations jsonb NOT NULL DEFAULT '[]'::jsonb
    """,
    """
    CREATE TABLE analytics.tool_calls (
        call_id text PRIMARY KEY,
        conversation_id uuid NOT NULL,
        position bigint NOT NULL,
        generation_id text NOT NULL DEFAULT '',
        tool text NOT NULL,
        arguments jsonb NOT NULL DEFAULT '{}'::jsonb,
        status text NOT NULL DEFAULT '',
        http_status integer NOT NULL DEFAULT 0,
        latency_ms integer NOT NULL DEFAULT 0,
        mutating boolean NOT NULL DEFAULT false,
        replayed boolean NOT NULL DEFAULT false,
        called_at timestamptz NOT NULL
    )
    """,
    """
    CREATE INDEX tool_calls_by_conversation
        ON analytics.tool_calls (conversation_id, called_at, position)
    """,
)
