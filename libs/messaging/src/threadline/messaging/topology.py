"""The streams of the blueprint, optionally under a namespace so tests never collide.

With the empty namespace the names are exactly the blueprint's (`SESSION_EVENTS`,
`session.events.>`); with namespace `t1` they become `t1_SESSION_EVENTS` and `t1.session.events.>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

INGEST_RAW = "INGEST_RAW"
INGEST_EVENTS = "INGEST_EVENTS"
SESSION_EVENTS = "SESSION_EVENTS"
AI_EVENTS = "AI_EVENTS"
OUTBOUND_EVENTS = "OUTBOUND_EVENTS"
DEAD_LETTERS = "DEAD_LETTERS"

_SUBJECT_ROOTS = {
    INGEST_RAW: "ingest.raw",
    INGEST_EVENTS: "ingest.events",
    SESSION_EVENTS: "session.events",
    AI_EVENTS: "ai_responder.events",
    OUTBOUND_EVENTS: "outbound.events",
    DEAD_LETTERS: "dlq",
}
_MAX_AGE = {INGEST_RAW: timedelta(days=7)}
DUPLICATE_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Topology:
    """Names of streams and subjects, under an optional namespace."""

    namespace: str = ""

    def stream(self, name: str) -> str:
        return f"{self.namespace}_{name}" if self.namespace else name

    def subject(self, *parts: str) -> str:
        """`subject("session.events", "Conversation", "Started")` → namespaced subject."""
        body = ".".join(parts)
        return f"{self.namespace}.{body}" if self.namespace else body

    def root(self, stream: str) -> str:
        return self.subject(_SUBJECT_ROOTS[stream])

    def dead_letter_subject(self, service: str, reason: str) -> str:
        return self.subject("dlq", service, reason)

    def stream_configs(self) -> list[StreamConfig]:
        return [
            StreamConfig(
                name=self.stream(name),
                subjects=[f"{self.root(name)}.>"],
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.FILE,
                discard=DiscardPolicy.OLD,
                max_age=_MAX_AGE[name].total_seconds() if name in _MAX_AGE else None,
                duplicate_window=DUPLICATE_WINDOW.total_seconds(),
                num_replicas=1,
            )
            for name in _SUBJECT_ROOTS
        ]


async def ensure_streams(js: JetStreamContext, topology: Topology) -> None:
    """Create the streams, or bring their configuration up to date; safe to call repeatedly."""
    for config in topology.stream_configs():
        try:
            await js.stream_info(config.name or "")
        except NotFoundError:
            try:
                await js.add_stream(config)
            except BadRequestError:
                # Another process created it between our look-up and our create.
                await js.update_stream(config)
        else:
            await js.update_stream(config)
