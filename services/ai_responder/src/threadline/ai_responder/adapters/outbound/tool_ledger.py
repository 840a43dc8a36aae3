"""The results of mutating HTTP tool calls in a JetStream KeyValue bucket, shared by every AI
responder and every restart: key = `mutation_key(conversation, tool, canonical arguments)`,
value = `PENDING` while the call runs (taken with a create, so one of two identical calls gets
it), then the `ToolResult` as JSON. A second identical call (a regenerated reply, a redelivery)
reads the result instead of booking again, for `KEEP_FOR`; a call that did not reach the
system deletes its claim."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from nats.js import JetStreamContext
from nats.js.errors import KeyDeletedError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from threadline.ai_responder.domain.tool_calls import ToolResult
from threadline.messaging.key_value import open_bucket

BUCKET: Final = "AI_RESPONDER_TOOL_CALLS"
# Longer than a conversation's bursts are regenerated over; a day later the same booking
# asked again is a new booking.
KEEP_FOR: Final = timedelta(hours=24)
PENDING: Final = b"pending"


class KeyValueMutationLedger:
    def __init__(self, bucket: KeyValue) -> None:
        self._bucket = bucket

    @classmethod
    async def open(cls, js: JetStreamContext, *, namespace: str = "") -> KeyValueMutationLedger:
        bucket = await open_bucket(
            js,
            BUCKET,
            namespace=namespace,
            keep_for=KEEP_FOR,
            description="ai_responder: mutating tool call key -> its recorded result",
        )
        return cls(bucket)

    async def claim(self, key: str) -> bool:
        try:
            await self._bucket.create(key, PENDING)
        except KeyWrongLastSequenceError:
            return False
        return True

    async def release(self, key: str) -> None:
        await self._bucket.delete(key)

    async def recorded(self, key: str) -> ToolResult | None:
        try:
            entry = await self._bucket.get(key)
        except (KeyNotFoundError, KeyDeletedError):
            return None
        if not entry.value or entry.value == PENDING:
            return None
        return ToolResult.from_json(entry.value.decode())

    async def record(self, key: str, result: ToolResult) -> None:
        await self._bucket.put(key, result.to_json().encode())
