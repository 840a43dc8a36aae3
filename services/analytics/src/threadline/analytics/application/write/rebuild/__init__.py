"""Rebuilding the read models from the session's event log: `threadline replay`.

`Replay` rebuilds every table into a schema of its own while `analytics` keeps serving, then
switches atomically (`replay`); `rebuild_conversation` rebuilds one conversation in place
(`conversation`). Both project with the live projection's pure `project` and write in bulk:
`apply` changes rows in memory (a `working_set` of the `tables`) as the live writer's
statements change them in SQL, `bulk` holds them across batches of a replay, `batches`
isolates events that cannot be projected. What they read and write is behind `ports`: the
PostgreSQL side is `adapters/outbound/read_models/rebuild`, the event log
`adapters/outbound/session_event_log.py`.
"""

from threadline.analytics.application.write.rebuild.conversation import (
    ConversationRebuilt,
    rebuild_conversation,
)
from threadline.analytics.application.write.rebuild.ports import StreamNotFound
from threadline.analytics.application.write.rebuild.replay import Progress, Replay, ReplayResult

__all__ = [
    "ConversationRebuilt",
    "Progress",
    "Replay",
    "ReplayResult",
    "StreamNotFound",
    "rebuild_conversation",
]
