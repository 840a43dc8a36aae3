"""The statements behind `Metrics.GetMetrics`, each over the conversations `c` in scope.

`{where}` is the filter, the period and the caller's scope (`filter_sql.conversation_condition`
plus `Period.condition`). They run in one read-only snapshot, so the figures agree.
Definitions: `docs/read-models.md`, "Metrics definitions".
"""

from __future__ import annotations

from psycopg import sql

# Sums over the conversations themselves.
TOTALS = sql.SQL(
    """
    SELECT count(*) AS conversations,
           coalesce(sum(c.message_count), 0) AS messages,
           coalesce(sum(c.llm_cost), 0) AS language_model_cost,
           coalesce(sum(c.whatsapp_cost), 0) AS whatsapp_cost,
           coalesce(sum(c.prompt_tokens), 0) AS prompt_tokens,
           coalesce(sum(c.completion_tokens), 0) AS completion_tokens,
           coalesce(sum(c.hand_offs), 0) AS hand_offs
    FROM analytics.conversations c
    WHERE {where}
    """
)

# One row per reply that answered something: the fact of the first message it answered
# (`first_unanswered`), so a reply answering three messages is one response, not three.
RESPONSE_TIMES = sql.SQL(
    """
    SELECT f.answered_by,
           count(*) AS responses,
           avg(f.response_seconds) AS average_seconds,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY f.response_seconds) AS p90_seconds
    FROM analytics.response_facts f
    JOIN analytics.conversations c ON c.id = f.conversation_id
    WHERE f.first_unanswered AND {where}
    GROUP BY f.answered_by
    """
)

# Conversations by category and by status, in one scan: `by_status` tells the sets apart.
COUNTS = sql.SQL(
    """
    SELECT c.category, c.status, count(*) AS conversations,
           grouping(c.category) = 1 AS by_status
    FROM analytics.conversations c
    WHERE {where}
    GROUP BY GROUPING SETS ((c.category), (c.status))
    ORDER BY by_status, c.category, c.status
    """
)

# Each UTC day from the first to the last creation day in scope (days in between without
# conversations are zeros); a conversation's messages, replies and cost count on the day
# it was created. A customer message is answered by its first reply; `answered_by_ai` counts
# those whose first reply was the assistant's (the response rate), `answered` any reply.
SERIES = sql.SQL(
    """
    WITH scoped AS (
        SELECT c.id, (c.created_at AT TIME ZONE 'UTC')::date AS day, c.cost
        FROM analytics.conversations c
        WHERE {where}
    ), conversations_by_day AS (
        SELECT day, count(*) AS conversations, sum(cost) AS cost FROM scoped GROUP BY day
    ), answers_by_day AS (
        SELECT s.day,
               count(*) AS customer_messages,
               count(f.answered_at) AS answered,
               count(*) FILTER (WHERE f.answered_by = 'ai') AS answered_by_ai,
               count(*) FILTER (WHERE f.first_unanswered) AS replies
        FROM analytics.response_facts f
        JOIN scoped s ON s.id = f.conversation_id
        GROUP BY s.day
    ), bounds AS (
        SELECT min(day) AS first, max(day) AS last FROM conversations_by_day
    )
    SELECT d.day::date AS day,
           coalesce(cd.conversations, 0) AS conversations,
           coalesce(a.customer_messages, 0) AS customer_messages,
           coalesce(a.answered, 0) AS answered,
           coalesce(a.answered_by_ai, 0) AS answered_by_ai,
           coalesce(a.replies, 0) AS replies,
           coalesce(cd.cost, 0) AS cost
    FROM bounds,
         generate_series(bounds.first::timestamp, bounds.last::timestamp, interval '1 day')
             AS d(day)
    LEFT JOIN conversations_by_day cd ON cd.day = d.day::date
    LEFT JOIN answers_by_day a ON a.day = d.day::date
    ORDER BY d.day
    """
)
