"""The record of what was sent (`SentLedger`): message id → wamid, consulted before every send.

`KeyValueSentLedger` keeps it in a JetStream KeyValue bucket so every outbound instance, and
every restart, sees it; `InMemorySentLedger` is the fake for unit tests.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from threadline.messaging.key_value import bucket_answers, open_bucket
from threadline.outbound.application.ports import SentRecord
from threadline.servicekit.ops_http import ReadinessCheck

BUCKET = "OUTBOUND_SENT"
# Long enough to outlive every redelivery and any re-publish of an old queued event.
KEEP_FOR = timedelta(days=30)
_PLAIN_KEY = re.compile(r"^[-_=a-zA-Z0-9]+$")


class KeyValueSentLedger:
    """Key = message id (hashed if it has characters KV keys may not), value = JSON record."""

    def __init__(self, bucket: KeyValue) -> None:
        self._bucket = bucket

    @classmethod
    async def open(cls, js: JetStreamContext, *, namespace: str = "") -> KeyValueSentLedger:
        """The bucket `OUTBOUND_SENT` (`<namespace>_OUTBOUND_SENT`), created when missing."""
        bucket = await open_bucket(
            js,
            BUCKET,
            namespace=namespace,
            keep_for=KEEP_FOR,
            description="outbound: message id -> wamid of every message sent",
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
        return SentRecord(
            wamid=data["wamid"],
            sent_at=datetime.fromisoformat(data["sent_at"]),
            media_id=data.get("media_id", ""),
        )

    async def record(self, message_id: str, sent: SentRecord) -> None:
        value = {"wamid": sent.wamid, "sent_at": sent.sent_at.isoformat()}
        if sent.media_id:
            value["media_id"] = sent.media_id
        await self._bucket.put(_key(message_id), json.dumps(value).encode())

    def check(self) -> ReadinessCheck:
        """Ready while the bucket answers: without it nothing is sent (every send asks it)."""

        return bucket_answers(self._bucket, "the sent ledger's bucket")


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
