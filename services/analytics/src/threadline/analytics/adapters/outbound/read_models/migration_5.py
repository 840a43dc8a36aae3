"""Schema version 5: every attachment of a conversation, kept or not (issue 11 item 4).

One row per message with media: what the media store kept (content type, size, sha256, file
name, caption, whether a voice note, where it is stored) or why it could not be kept.
`ConversationQueries.ListAttachments` reads it by conversation, oldest first. Conversations
projected before are given their attachments by a replay. Applied once; never edited.
"""

from __future__ import annotations

from typing import LiteralString

STATEMENTS: tuple[LiteralString, ...] = (
    """
    CREATE TABLE analytics.attachments (
        message_id text PRIMARY KEY,
        conversation_id uuid NOT NULL,
        position bigint NOT NULL,
        direction text NOT NULL,
        media_id text NOT NULL DEFAULT '',
        media_type text NOT NULL DEFAULT '',
        content_type text NOT NULL DEFAULT '',
        size bigint NOT NULL DEFAULT 0,
        sha256 text NOT NULL DEFAULT '',
        file_name text NOT NULL DEFAULT '',
        caption text NOT NULL DEFAULT '',
        voice boolean NOT NULL DEFAULT false,
        location text NOT NULL DEFAULT '',
        status text NOT NULL,
        failure_reason text NOT NULL DEFAULT '',
        refused boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
    )
    """,
    """
    CREATE INDEX attachments_by_conversation
        ON analytics.attachments (conversation_id, created_at, position)
    """,
)
