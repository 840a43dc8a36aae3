"""Rebuilding the read models from the session's event log: `threadline replay`.

`Replay` rebuilds every table into a schema of its own while `analytics` keeps serving, then
switches atomically (`replay`); `rebuild_conversation` rebuilds one conversation in place
(`conversation`). Both project with the live projection's pure `project` and write in bulk:
`apply` changes rows in memory as the live writer's statements change them in SQL, `store`
reads and COPYs them, `bulk` holds them across batches of a replay, `batches` isolates events
that cannot be projected.
"""

from threadline.analytics.write.rebuild.conversation import (
    ConversationRebuilt,
    rebuild_conversation,
)
from threadline.analytics.write.rebuild.event_log import EventLogReader, StreamNotFound
from threadline.analytics.write.rebuild.replay import Progress, Replay, ReplayResult

__all__ = [
    "ConversationRebuilt",
    "EventLogReader",
    "Progress",
    "Replay",
    "ReplayResult",
    "StreamNotFound",
    "rebuild_conversation",
]
