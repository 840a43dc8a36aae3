"""A `ConversationFilter` and the caller's scope as one SQL condition on conversations `c`.

Shared by every query over conversations (listing, and the metrics and exports built on the
same filters): `where, params = conversation_condition(criteria, viewer)`, then
`sql.SQL("SELECT … FROM analytics.conversations c WHERE {}").format(where)` with `params`;
metrics and exports take `reported_condition`, which leaves the test chat out unless asked.
"""

from __future__ import annotations

from typing import LiteralString

from psycopg import sql

from threadline.analytics.domain.read.criteria import ConversationFilter
from threadline.rules.testchat import TEST_CHANNEL
from threadline.servicekit.auth import Principal

CONDITIONS: dict[str, LiteralString] = {
    "numbers": "c.business_number = ANY(%(numbers)s)",
    "lead_id": "c.lead_id = %(lead_id)s",
    "status": "c.status = %(status)s",
    "channel": "c.channel = %(channel)s",
    "real_channels": "c.channel <> %(real_channels)s",
    "business_number": "c.business_number = %(business_number)s",
    "customer_phone": "c.customer_wa_id = %(customer_phone)s",
    "assistant": "c.assistant = %(assistant)s",
    "created_from": "c.created_at >= %(created_from)s",
    "created_to": "c.created_at < %(created_to)s",
    "last_message_from": "c.last_message_at >= %(last_message_from)s",
    "last_message_to": "c.last_message_at < %(last_message_to)s",
}


def conversation_condition(
    criteria: ConversationFilter, viewer: Principal
) -> tuple[sql.Composable, dict[str, object]]:
    """The condition and its parameters: `criteria`, within the numbers `viewer` may see."""
    params: dict[str, object] = {**criteria.conditions(), **scope(viewer)}
    where = sql.SQL(" AND ").join([sql.SQL(CONDITIONS[name]) for name in params])
    return (where if params else sql.SQL("TRUE")), params


def reported_condition(
    criteria: ConversationFilter, viewer: Principal
) -> tuple[sql.Composable, dict[str, object]]:
    """`conversation_condition` for metrics and exports: without a channel filter, the test
    chat's conversations (`threadline.rules.testchat`) are left out, so the figures are
    WhatsApp's; `channel=test` asks for them."""
    if criteria.channel:
        return conversation_condition(criteria, viewer)
    params: dict[str, object] = {
        **criteria.conditions(),
        **scope(viewer),
        "real_channels": TEST_CHANNEL,
    }
    return sql.SQL(" AND ").join([sql.SQL(CONDITIONS[name]) for name in params]), params


def scope(viewer: Principal) -> dict[str, object]:
    """The business numbers the viewer is limited to; nothing when it may see them all."""
    numbers = viewer.visible_numbers()
    return {} if numbers is None else {"numbers": sorted(numbers)}
