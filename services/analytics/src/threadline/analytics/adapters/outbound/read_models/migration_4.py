"""Schema version 4: what each AI reply cost, as the AI responder reports it (issue 10 item 8).

Messages gain the cached part of their prompt tokens, the model's latency and the assistant
(name and configuration version) that drafted them; conversations gain their cached tokens, the
version of their assistant, and the generations the assistant discarded unsent (how many, and
what they cost: already part of `llm_cost`). Rows projected before keep the defaults (0, '')
until a replay rebuilds them. Applied once; never edited.
"""

from __future__ import annotations

from typing import LiteralString

STATEMENTS: tuple[LiteralString, ...] = (
    """
    ALTER TABLE analytics.messages
        ADD COLUMN cached_tokens integer NOT NULL DEFAULT 0,
        ADD COLUMN latency_ms integer NOT NULL DEFAULT 0,
        ADD COLUMN assistant text NOT NULL DEFAULT '',
        ADD COLUMN assistant_version integer NOT NULL DEFAULT 0
    """,
    """
    ALTER TABLE analytics.conversations
        ADD COLUMN assistant_version integer NOT NULL DEFAULT 0,
        ADD COLUMN cached_tokens bigint NOT NULL DEFAULT 0,
        ADD COLUMN discarded_generations integer NOT NULL DEFAULT 0,
        ADD COLUMN discarded_llm_cost numeric NOT NULL DEFAULT 0
    """,
)
