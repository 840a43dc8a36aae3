"""The statements that write a batch's changes; each runs once per row with `executemany`."""

from __future__ import annotations

from typing import LiteralString

UPSERT_NUMBER: LiteralString = """
    INSERT INTO analytics.business_numbers (id, phone_number_id, registered_at, updated_at)
    VALUES (%(id)s, %(phone_number_id)s, %(registered_at)s, %(registered_at)s)
    ON CONFLICT (id) DO NOTHING
"""

PATCH_NUMBER: LiteralString = """
    UPDATE analytics.business_numbers SET
        autopilot = coalesce(%(autopilot)s, autopilot),
        auto_resolve_hours = coalesce(%(auto_resolve_hours)s, auto_resolve_hours),
        updated_at = %(updated_at)s
    WHERE id = %(id)s
"""

# A template event names its BusinessNumber aggregate, not the phone number id: that comes
# from the number's row, registered before any of its templates.
UPSERT_TEMPLATE: LiteralString = """
    INSERT INTO analytics.templates
        (number_id, business_number, name, language, category, body, parameter_count,
         registered_at, updated_at)
    VALUES
        (%(number_id)s,
         coalesce((SELECT phone_number_id FROM analytics.business_numbers
                   WHERE id = %(number_id)s), ''),
         %(name)s, %(language)s, %(category)s, %(body)s, %(parameter_count)s,
         %(registered_at)s, coalesce(%(updated_at)s, %(registered_at)s))
    ON CONFLICT (number_id, name, language) DO UPDATE SET
        category = excluded.category,
        body = excluded.body,
        parameter_count = excluded.parameter_count,
        updated_at = excluded.updated_at
"""

UPSERT_CONTACT: LiteralString = """
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

PATCH_CONTACT: LiteralString = """
    UPDATE analytics.contacts SET
        wa_id = coalesce(nullif(wa_id, ''), %(wa_id)s, ''),
        user_id = coalesce(nullif(user_id, ''), %(user_id)s, ''),
        name = coalesce(%(name)s, name),
        email = coalesce(%(email)s, email),
        data = data || %(data)s,
        updated_at = %(updated_at)s
    WHERE id = %(id)s
"""

CLAIM_KEY: LiteralString = """
    INSERT INTO analytics.contact_keys (business_number, key, contact_id, claimed_at)
    VALUES (%(business_number)s, %(key)s, %(contact_id)s, %(claimed_at)s)
    ON CONFLICT (business_number, key) DO NOTHING
"""

INSERT_CONVERSATION: LiteralString = """
    INSERT INTO analytics.conversations
        (id, lead_id, business_number, session_key, channel, status, customer_wa_id,
         customer_user_id, customer_name, created_at, updated_at, opened_by, category)
    VALUES
        (%(id)s, %(lead_id)s, %(business_number)s, %(session_key)s, %(channel)s, %(status)s,
         %(customer_wa_id)s, %(customer_user_id)s, %(customer_name)s, %(created_at)s,
         %(created_at)s, %(opened_by)s, %(category)s)
"""

INSERT_MESSAGE: LiteralString = """
    INSERT INTO analytics.messages
        (id, conversation_id, position, role, author, type, content, status, wamid, metadata,
         created_at, updated_at, sent_at, in_reply_to, model, prompt_tokens, completion_tokens,
         llm_cost, status_history, cached_tokens, latency_ms, assistant, assistant_version,
         interpretation, citations)
    VALUES
        (%(id)s, %(conversation_id)s, %(position)s, %(role)s, %(author)s, %(type)s,
         %(content)s, %(status)s, %(wamid)s, %(metadata)s, %(created_at)s, %(created_at)s,
         %(sent_at)s, %(in_reply_to)s, %(model)s, %(prompt_tokens)s, %(completion_tokens)s,
         %(llm_cost)s, %(status_history)s, %(cached_tokens)s, %(latency_ms)s, %(assistant)s,
         %(assistant_version)s, %(interpretation)s, %(citations)s)
"""

AWAIT_ANSWER: LiteralString = """
    INSERT INTO analytics.response_facts
        (message_id, conversation_id, business_number, position, received_at, sent_at)
    VALUES
        (%(message_id)s, %(conversation_id)s,
         coalesce((SELECT business_number FROM analytics.conversations
                   WHERE id = %(conversation_id)s), ''),
         %(position)s, %(received_at)s, %(sent_at)s)
"""

# The right-hand sides read the row as it was, so `original_content` keeps the text from
# before the first edit.
PATCH_MESSAGE: LiteralString = """
    UPDATE analytics.messages SET
        wamid = coalesce(%(wamid)s, wamid),
        status = coalesce(%(status)s, status),
        metadata = metadata || %(metadata)s,
        status_history = status_history || %(status_history)s,
        pricing = coalesce(%(pricing)s, pricing),
        error_code = coalesce(%(error_code)s, error_code),
        error_title = coalesce(%(error_title)s, error_title),
        original_content = CASE WHEN %(content)s::text IS NULL THEN original_content
                                ELSE coalesce(original_content, content) END,
        content = coalesce(%(content)s, content),
        edits = edits || %(edits)s,
        deleted = deleted OR %(deleted_at)s::timestamptz IS NOT NULL,
        deleted_at = coalesce(deleted_at, %(deleted_at)s),
        reaction = coalesce(%(reaction)s, reaction),
        reactions = reactions || %(reactions)s,
        updated_at = %(updated_at)s
    WHERE id = %(id)s
"""

# Once per message: a message already charged (whatsapp_cost not NULL) is left alone.
CHARGE: LiteralString = """
    WITH charged AS (
        UPDATE analytics.messages SET whatsapp_cost = %(cost)s
        WHERE id = %(message_id)s AND whatsapp_cost IS NULL
        RETURNING conversation_id, whatsapp_cost
    )
    UPDATE analytics.conversations c SET whatsapp_cost = c.whatsapp_cost + charged.whatsapp_cost
    FROM charged WHERE c.id = charged.conversation_id
"""

PATCH_CONVERSATION: LiteralString = """
    UPDATE analytics.conversations SET
        message_count = message_count + %(added)s,
        last_message_at = coalesce(%(last_message_at)s, last_message_at),
        last_message_preview = coalesce(%(preview)s, last_message_preview),
        first_customer_message_at =
            coalesce(first_customer_message_at, %(first_customer_message_at)s),
        last_inbound_at = greatest(last_inbound_at, %(last_inbound_at)s),
        free_entry_until = coalesce(%(free_entry_until)s, free_entry_until),
        status = coalesce(%(status)s, status),
        ai_paused = coalesce(%(ai_paused)s, ai_paused),
        status_reason = coalesce(%(status_reason)s, status_reason),
        status_changed_by = coalesce(%(status_changed_by)s, status_changed_by),
        status_changed_at = coalesce(%(status_changed_at)s, status_changed_at),
        closed_at = coalesce(%(closed_at)s, closed_at),
        hand_offs = hand_offs + %(hand_offs)s,
        flow_id = coalesce(%(flow_id)s, flow_id),
        flow_step = coalesce(%(flow_step)s, flow_step),
        flow_completed = coalesce(%(flow_completed)s, flow_completed),
        session_data = session_data || coalesce(%(session_data)s, '{}'::jsonb),
        flow_expires_at = CASE WHEN %(flow_id)s::text IS NULL THEN flow_expires_at
                               ELSE %(flow_expires_at)s::timestamptz END,
        flow_status = coalesce(%(flow_status)s, flow_status),
        assistant = CASE WHEN %(assistant_named)s THEN %(assistant)s
                         WHEN assistant = '' THEN coalesce(%(assistant)s, '')
                         ELSE assistant END,
        assistant_version = CASE WHEN %(assistant_named)s OR assistant = ''
                                 THEN %(assistant_version)s
                                 ELSE assistant_version END,
        prompt_tokens = prompt_tokens + %(prompt_tokens)s,
        completion_tokens = completion_tokens + %(completion_tokens)s,
        cached_tokens = cached_tokens + %(cached_tokens)s,
        llm_cost = llm_cost + %(llm_cost)s,
        discarded_generations = discarded_generations + %(discarded_generations)s,
        discarded_llm_cost = discarded_llm_cost + %(discarded_llm_cost)s,
        updated_at = greatest(updated_at, %(updated_at)s)
    WHERE id = %(id)s
"""

# A reply answers every customer message of its conversation recorded before it and not yet
# answered; the wait is measured from the first of them. Run in position order.
ANSWER: LiteralString = """
    WITH pending AS (
        SELECT message_id, position, received_at FROM analytics.response_facts
        WHERE conversation_id = %(conversation_id)s AND answered_at IS NULL
          AND position < %(position)s
    ), first AS (
        SELECT position, received_at FROM pending ORDER BY position LIMIT 1
    )
    UPDATE analytics.response_facts f SET
        answered_at = %(at)s,
        answered_by = %(author)s,
        reply_message_id = %(message_id)s,
        waited_since = first.received_at,
        response_seconds =
            greatest(0, extract(epoch FROM %(at)s::timestamptz - first.received_at))::float8,
        first_unanswered = f.position = first.position
    FROM pending, first
    WHERE f.message_id = pending.message_id
"""

# The latest facts of a message's attachment; the first event's position and time stay, and
# an event naming the same message in another conversation changes nothing.
UPSERT_ATTACHMENT: LiteralString = """
    INSERT INTO analytics.attachments
        (message_id, conversation_id, position, direction, media_id, media_type, content_type,
         size, sha256, file_name, caption, voice, location, status, failure_reason, refused,
         created_at, updated_at)
    VALUES
        (%(message_id)s, %(conversation_id)s, %(position)s, %(direction)s, %(media_id)s,
         %(media_type)s, %(content_type)s, %(size)s, %(sha256)s, %(file_name)s, %(caption)s,
         %(voice)s, %(location)s, %(status)s, %(failure_reason)s, %(refused)s, %(created_at)s,
         %(updated_at)s)
    ON CONFLICT (message_id) DO UPDATE SET
        direction = excluded.direction,
        media_id = excluded.media_id,
        media_type = excluded.media_type,
        content_type = excluded.content_type,
        size = excluded.size,
        sha256 = excluded.sha256,
        file_name = excluded.file_name,
        caption = excluded.caption,
        voice = excluded.voice,
        location = excluded.location,
        status = excluded.status,
        failure_reason = excluded.failure_reason,
        refused = excluded.refused,
        updated_at = excluded.updated_at
    WHERE attachments.conversation_id = excluded.conversation_id
"""

# A voice note's latest transcript on its attachment row, after the batch's attachments: only
# the transcript's columns change on a row of the same conversation; a message with no row yet
# gets one, `pending` (an inbound audio) until its attachment event fills in the media.
UPSERT_TRANSCRIPT: LiteralString = """
    INSERT INTO analytics.attachments
        (message_id, conversation_id, position, direction, media_type, status,
         transcript_status, transcript, transcript_language, transcript_model,
         transcript_seconds, transcript_reason, transcript_at, created_at, updated_at)
    VALUES
        (%(message_id)s, %(conversation_id)s, %(position)s, 'inbound', 'audio', 'pending',
         %(status)s, %(text)s, %(language)s, %(model)s, %(seconds)s, %(reason)s,
         %(recorded_at)s, %(created_at)s, %(created_at)s)
    ON CONFLICT (message_id) DO UPDATE SET
        transcript_status = excluded.transcript_status,
        transcript = excluded.transcript,
        transcript_language = excluded.transcript_language,
        transcript_model = excluded.transcript_model,
        transcript_seconds = excluded.transcript_seconds,
        transcript_reason = excluded.transcript_reason,
        transcript_at = excluded.transcript_at
    WHERE attachments.conversation_id = excluded.conversation_id
"""

# The assistant's tool calls (issue 12), once per call id: the first recorded stays.
INSERT_TOOL_CALL: LiteralString = """
    INSERT INTO analytics.tool_calls
        (call_id, conversation_id, position, generation_id, tool, arguments, status,
         http_status, latency_ms, mutating, replayed, called_at)
    VALUES
        (%(call_id)s, %(conversation_id)s, %(position)s, %(generation_id)s, %(tool)s,
         %(arguments)s, %(status)s, %(http_status)s, %(latency_ms)s, %(mutating)s,
         %(replayed)s, %(called_at)s)
    ON CONFLICT (call_id) DO NOTHING
"""
