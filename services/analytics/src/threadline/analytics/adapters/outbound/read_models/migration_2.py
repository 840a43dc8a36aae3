"""Schema version 2: the read side for dashboards and metrics.

Conversations gain category, opener, assistant, status details, hand-offs, flow, the
customer-service window, tokens and costs; messages gain their status history, pricing,
error, edits, deletion, reactions, model and tokens; new tables hold contact keys, business
numbers, templates and one response fact per customer message. Applied once; never edited.
"""

from __future__ import annotations

from typing import LiteralString

STATEMENTS: tuple[LiteralString, ...] = (
    """
    ALTER TABLE analytics.conversations
        ADD COLUMN opened_by text NOT NULL DEFAULT 'customer',
        ADD COLUMN category text NOT NULL DEFAULT 'SERVICE',
        ADD COLUMN assistant text NOT NULL DEFAULT '',
        ADD COLUMN ai_paused boolean NOT NULL DEFAULT false,
        ADD COLUMN status_reason text NOT NULL DEFAULT '',
        ADD COLUMN status_changed_by text NOT NULL DEFAULT '',
        ADD COLUMN status_changed_at timestamptz,
        ADD COLUMN closed_at timestamptz,
        ADD COLUMN hand_offs integer NOT NULL DEFAULT 0,
        ADD COLUMN flow_id text NOT NULL DEFAULT '',
        ADD COLUMN flow_step text NOT NULL DEFAULT '',
        ADD COLUMN flow_completed boolean NOT NULL DEFAULT false,
        ADD COLUMN first_customer_message_at timestamptz,
        ADD COLUMN last_inbound_at timestamptz,
        ADD COLUMN free_entry_until timestamptz,
        ADD COLUMN prompt_tokens bigint NOT NULL DEFAULT 0,
        ADD COLUMN completion_tokens bigint NOT NULL DEFAULT 0,
        ADD COLUMN tokens bigint GENERATED ALWAYS AS (prompt_tokens + completion_tokens) STORED,
        ADD COLUMN llm_cost numeric NOT NULL DEFAULT 0,
        ADD COLUMN whatsapp_cost numeric NOT NULL DEFAULT 0,
        ADD COLUMN cost numeric GENERATED ALWAYS AS (llm_cost + whatsapp_cost) STORED
    """,
    """
    CREATE INDEX conversations_by_creation
        ON analytics.conversations (created_at DESC, id DESC)
    """,
    """
    ALTER TABLE analytics.messages
        ADD COLUMN sent_at timestamptz,
        ADD COLUMN in_reply_to text NOT NULL DEFAULT '',
        ADD COLUMN status_history jsonb NOT NULL DEFAULT '[]'::jsonb,
        ADD COLUMN pricing jsonb,
        ADD COLUMN whatsapp_cost numeric,
        ADD COLUMN error_code integer,
        ADD COLUMN error_title text NOT NULL DEFAULT '',
        ADD COLUMN original_content text,
        ADD COLUMN edits jsonb NOT NULL DEFAULT '[]'::jsonb,
        ADD COLUMN deleted boolean NOT NULL DEFAULT false,
        ADD COLUMN deleted_at timestamptz,
        ADD COLUMN reaction text NOT NULL DEFAULT '',
        ADD COLUMN reactions jsonb NOT NULL DEFAULT '[]'::jsonb,
        ADD COLUMN model text NOT NULL DEFAULT '',
        ADD COLUMN prompt_tokens integer NOT NULL DEFAULT 0,
        ADD COLUMN completion_tokens integer NOT NULL DEFAULT 0,
        ADD COLUMN llm_cost numeric NOT NULL DEFAULT 0
    """,
    """
    CREATE INDEX contacts_by_wa_id ON analytics.contacts (business_number, wa_id)
    """,
    """
    CREATE INDEX contacts_by_user_id ON analytics.contacts (business_number, user_id)
    """,
    """
    CREATE TABLE analytics.contact_keys (
        business_number text NOT NULL,
        key text NOT NULL,
        contact_id uuid NOT NULL,
        claimed_at timestamptz NOT NULL,
        PRIMARY KEY (business_number, key)
    )
    """,
    """
    CREATE INDEX contact_keys_by_contact ON analytics.contact_keys (contact_id)
    """,
    """
    CREATE TABLE analytics.business_numbers (
        id uuid PRIMARY KEY,
        phone_number_id text NOT NULL UNIQUE,
        autopilot boolean NOT NULL DEFAULT true,
        auto_resolve_hours integer NOT NULL DEFAULT 12,
        registered_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
    )
    """,
    """
    CREATE TABLE analytics.templates (
        number_id uuid NOT NULL,
        business_number text NOT NULL,
        name text NOT NULL,
        language text NOT NULL,
        category text NOT NULL,
        body text NOT NULL,
        parameter_count integer NOT NULL,
        registered_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (number_id, name, language)
    )
    """,
    """
    CREATE INDEX templates_by_number ON analytics.templates (business_number, name, language)
    """,
    """
    CREATE TABLE analytics.response_facts (
        message_id text PRIMARY KEY,
        conversation_id uuid NOT NULL,
        business_number text NOT NULL,
        position bigint NOT NULL,
        received_at timestamptz NOT NULL,
        sent_at timestamptz,
        answered_at timestamptz,
        answered_by text,
        reply_message_id text,
        waited_since timestamptz,
        response_seconds double precision,
        first_unanswered boolean NOT NULL DEFAULT false
    )
    """,
    """
    CREATE INDEX response_facts_unanswered
        ON analytics.response_facts (conversation_id, position) WHERE answered_at IS NULL
    """,
    """
    CREATE INDEX response_facts_by_conversation ON analytics.response_facts (conversation_id)
    """,
    """
    CREATE INDEX response_facts_by_number
        ON analytics.response_facts (business_number, received_at)
    """,
    """
    CREATE VIEW analytics.responses AS
    SELECT reply_message_id, conversation_id, business_number, answered_by,
           waited_since, answered_at, response_seconds, count(*) AS messages_answered
    FROM analytics.response_facts
    WHERE answered_at IS NOT NULL
    GROUP BY reply_message_id, conversation_id, business_number, answered_by,
             waited_since, answered_at, response_seconds
    """,
)
