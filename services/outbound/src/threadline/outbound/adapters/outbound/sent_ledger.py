"""The record of what was sent (`SentLedger`): message id → wamid, consulted before every send.

`KeyValueSentLedger` keeps it in a JetStream KeyValue bucket so every outbound instance, and
every restart, sees it; `InMemorySentLedger` is the fake for unit tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError
from nats.js.kv import KeyValue

from threadline.messaging.failures import describe
from threadline.outbound.application.ports import SentRecord
from threadline.servicekit.ops_http import ReadinessCheck

BUCKET = "OUTBOUND_SENT"
# Long enough to outlive every redelivery and any re-publish of an old queued event.
KEEP_FOR = timedelta(days=30)
_PLAIN_KEY = re.compile(r"^[-_=a-zA-Z0-9]+$")
CHECK_SECONDS = 2.0  # how long /readyz waits for the bucket to answer


class KeyValueSentLedger:
    """Key = message id (hashed if it has characters KV keys may not), value = JSON record."""

    def __init__(self, bucket: KeyValue) -> None:
        self._bucket = bucket

    @classmethod
    async def open(cls, js: JetStreamContext, *, namespace: str = "") -> KeyValueSentLedger:
        """The bucket `OUTBOUND_SENT` (`<namespace>_OUTBOUND_SENT`), created when missing."""
        name = f"{namespace}_{BUCKET}" if namespace else BUCKET
        try:
            bucket = await js.key_value(name)
        except BucketNotFoundError:
            bucket = await js.create_key_value(
                KeyValueConfig(
                    bucket=name,
                    history=1,
                    ttl=KEEP_FOR.total_seconds(),
                    storage=StorageType.FILE,
                    description="outbound: message id -> wamid of every message sent",
                )
            )
        return cls(bucket)

    async def find(self, message_id: str) -> SentRecord | None:
        try:
            entry = await self._bucket.get(_key(message_id))
        except KeyNotFoundError:
            return None
        if not entry.value:
            return None
        data = json.loads(entry.value)
        return SentRecord(wamid=data["wamid"], sent_at=datetime.fromisoformat(data["sent_at"]))

    async def record(self, message_id: str, sent: SentRecord) -> None:
        value = {"wamid": sent.wamid, "sent_at": sent.sent_at.isoformat()}
        await self._bucket.put(_key(message_id), json.dumps(value).encode())

    def check(self) -> ReadinessCheck:
        """Ready while the bucket answers: without it nothing is sent (every send asks it)."""

        async def check() -> str | None:
            try:
                await asyncio.wait_for(self._bucket.status(), CHECK_SECONDS)
            except Exception as error:
                return f"the sent ledger's bucket does not answer: {describe(error)}"
            return None

        return check


@dataclass
class InMemorySentLedger:
    """A `SentLedger` for unit tests."""

    sent: dict[str, SentRecord] = field(default_factory=dict)

    async def find(self, message_id: str) -> SentRecord | None:
        return self.sent.get(message_id)

    async def record(self, message_id: str, sent: SentRecord) -> None:
        self.sent[message_id] = sent


def _key(message_id: str) -> str:
    if _PLAIN_KEY.match(message_id):
        return message_id
    return "sha256." + hashlib.sha256(message_id.encode()).hexdigest()
