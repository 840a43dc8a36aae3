"""Writing a batch's `Changes` to the read models: one pipelined statement per kind of row."""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from threadline.analytics.changes import Changes

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_UPSERT_CONTACT = """
    INSERT INTO analytics.contacts
        (id, business_number, wa_id, user_id, name, created_at, updated_at)
    VALUES
        (%(id)s, %(business_number)s, %(wa_id)s, %(user_id)s, %(name)s,
         %(registered_at)s, %(registered_at)s)
    ON CONFLICT (id) DO UPDATE SET
        wa_id = coalesce(nullif(excluded.wa_id, ''), contacts.wa_id),
        user_id = coalesce(nullif(excluded.user_id, ''), contacts.user_id),
        name = coalesce(nullif(excluded.name, ''), contacts.name),
        updated_at = excluded.updated_at
"""

_INSERT_CONVERSATION = """
    INSERT INTO analytics.conversations
        (id, lead_id, business_number, session_key, channel, status, customer_wa_id,
         customer_user_id, customer_name, created_at, updated_at)
    VALUES
        (%(id)s, %(lead_id)s, %(business_number)s, %(session_key)s, %(channel)s, %(status)s,
         %(customer_wa_id)s, %(customer_user_id)s, %(customer_name)s, %(created_at)s,
         %(created_at)s)
"""

_INSERT_MESSAGE = """
    INSERT INTO analytics.messages
        (id, conversation_id, position, role, author, type, content, status, wamid, metadata,
         created_at, updated_at)
    VALUES
        (%(id)s, %(conversation_id)s, %(position)s, %(role)s, %(author)s, %(type)s,
         %(content)s, %(status)s, %(wamid)s, %(metadata)s, %(created_at)s, %(created_at)s)
"""

_PATCH_MESSAGE = """
    UPDATE analytics.messages SET
        wamid = coalesce(%(wamid)s, wamid),
        status = coalesce(%(status)s, status),
        metadata = metadata || %(metadata)s,
        updated_at = %(updated_at)s
    WHERE id = %(id)s
"""

_RECORD_ACTIVITY = """
    UPDATE analytics.conversations SET
        message_count = message_count + %(added)s,
        last_message_at = %(last_message_at)s,
        last_message_preview = %(preview)s,
        updated_at = %(last_message_at)s
    WHERE id = %(id)s
"""


async def write(connection: AsyncConnection[Any], changes: Changes) -> None:
    """Apply `changes` inside the caller's transaction: new rows first, then updates."""
    async with connection.cursor() as cursor:
        if changes.contacts:
            await cursor.executemany(
                _UPSERT_CONTACT, [_columns(row) for row in changes.contacts.values()]
            )
        if changes.conversations:
            await cursor.executemany(
                _INSERT_CONVERSATION, [_columns(row) for row in changes.conversations.values()]
            )
        if changes.messages:
            await cursor.executemany(
                _INSERT_MESSAGE,
                [
                    {**_columns(row), "metadata": Jsonb(row.metadata)}
                    for row in changes.messages.values()
                ],
            )
        if changes.patches:
            await cursor.executemany(
                _PATCH_MESSAGE,
                [
                    {**_columns(patch), "id": message_id, "metadata": Jsonb(patch.metadata)}
                    for message_id, patch in changes.patches.items()
                ],
            )
        if changes.activity:
            await cursor.executemany(
                _RECORD_ACTIVITY,
                [{**_columns(a), "id": cid} for cid, a in changes.activity.items()],
            )


def _columns(row: DataclassInstance) -> dict[str, Any]:
    return {column.name: getattr(row, column.name) for column in fields(row)}
