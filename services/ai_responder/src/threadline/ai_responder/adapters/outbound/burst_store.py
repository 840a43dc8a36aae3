"""The bursts in a JetStream KeyValue bucket, shared by every AI responder and every restart.

Key = conversation id (hashed when it has characters KV keys may not), value = the burst as
JSON. Every change is a compare-and-set on the key's revision, read again and retried on a
conflict. An answered burst is not deleted: it keeps the ids it answered (so a redelivered
message is not answered twice) until the bucket's TTL forgets it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import (
    KeyWrongLastSequenceError,
)
from nats.js.kv import KeyValue

from threadline.ai_responder.application.burst_ports import StoredBurst
from threadline.ai_responder.domain.burst import Burst, Claim, Pending
from threadline.messaging.key_value import (
    KnownValues,
    bucket_answers,
    change_value,
    latest_values,
    open_bucket,
    read_value,
)
from threadline.servicekit.ops_http import ReadinessCheck

log = logging.getLogger(__name__)

BUCKET = "AI_RESPONDER_BURSTS"
# Far longer than any burst lives; long enough to remember answered ids across redeliveries.
KEEP_FOR = timedelta(hours=1)
_PLAIN_KEY = re.compile(r"^[-_=a-zA-Z0-9]+$")


class KeyValueBurstStore:
    def __init__(self, bucket: KeyValue, js: JetStreamContext, namespace: str = "") -> None:
        self._bucket, self._js, self._namespace = bucket, js, namespace
        # What this process last wrote or read of each burst: a change tries it before reading.
        self._known = KnownValues()

    @classmethod
    async def open(cls, js: JetStreamContext, *, namespace: str = "") -> KeyValueBurstStore:
        """The bucket `AI_RESPONDER_BURSTS` (`<namespace>_AI_RESPONDER_BURSTS`), created when
        missing."""
        bucket = await open_bucket(
            js,
            BUCKET,
            namespace=namespace,
            keep_for=KEEP_FOR,
            description="ai_responder: conversation id -> the burst awaiting an answer",
        )
        return cls(bucket, js, namespace)

    async def add_message(
        self,
        conversation_id: str,
        message_id: str,
        at: datetime,
        *,
        delay: timedelta,
        max_wait: timedelta,
    ) -> StoredBurst:
        def change(burst: Burst | None) -> Burst:
            start = burst or Burst.start(conversation_id, delay=delay, max_wait=max_wait)
            return start.with_message(message_id, at)

        return await self._change(conversation_id, change)

    async def read(self, conversation_id: str) -> StoredBurst | None:
        return await self._read(conversation_id)

    async def pending(self) -> list[StoredBurst]:
        found: list[StoredBurst] = []
        for _key, value, revision in await latest_values(
            self._js, BUCKET, namespace=self._namespace
        ):
            burst = _from_json(value)
            if burst.pending:
                found.append(StoredBurst(burst, revision))
        return found

    async def claim(self, stored: StoredBurst, owner: str, now: datetime) -> StoredBurst | None:
        claimed = stored.burst.claimed(owner, now)
        revision = await self._write_if(stored.key, claimed, stored.revision)
        return None if revision is None else StoredBurst(claimed, revision)

    async def still_current(self, claimed: StoredBurst) -> bool:
        current = await self._read(claimed.key)
        return current is not None and current.revision == claimed.revision

    async def finish(self, claimed: StoredBurst) -> None:
        covered = claimed.burst.message_ids

        def change(burst: Burst | None) -> Burst:
            return (burst or claimed.burst).answered_with(covered)

        await self._change(claimed.key, change)

    async def release(self, claimed: StoredBurst) -> None:
        await self._write_if(claimed.key, claimed.burst.released(), claimed.revision)

    def check(self) -> ReadinessCheck:
        """Ready while the bucket answers: without it no customer message is answered."""

        return bucket_answers(self._bucket, "the bursts' bucket")

    async def _change(
        self, conversation_id: str, change: Callable[[Burst | None], Burst]
    ) -> StoredBurst:
        changed: Burst | None = None

        def apply(raw: bytes | None) -> bytes:
            nonlocal changed
            changed = change(_from_json(raw) if raw else None)
            return _encoded(changed)

        _, revision = await change_value(
            self._bucket, _key(conversation_id), apply, known=self._known
        )
        assert changed is not None and revision is not None  # `apply` always gives a value
        return StoredBurst(changed, revision)

    async def _read(self, conversation_id: str) -> StoredBurst | None:
        value, revision = await read_value(self._bucket, _key(conversation_id), known=self._known)
        if value is None or revision is None:
            return None
        return StoredBurst(_from_json(value), revision)

    async def _write_if(
        self, conversation_id: str, burst: Burst, revision: int | None
    ) -> int | None:
        """Write when the key is still at `revision` (None: absent); the new revision, or None
        when someone else changed it first."""
        key, value = _key(conversation_id), _encoded(burst)
        try:
            if revision is None:
                written = await self._bucket.create(key, value)
            else:
                written = await self._bucket.update(key, value, last=revision)
        except KeyWrongLastSequenceError:
            self._known.forget(key)
            return None
        self._known.remember(key, value, written)
        return written


def _encoded(burst: Burst) -> bytes:
    return json.dumps(_to_json(burst)).encode()


def _to_json(burst: Burst) -> dict[str, Any]:
    claim = burst.claim
    return {
        "conversation_id": burst.conversation_id,
        "pending": [[message.message_id, message.at.isoformat()] for message in burst.pending],
        "first_at": burst.first_at.isoformat() if burst.first_at else None,
        "delay": burst.delay.total_seconds(),
        "max_wait": burst.max_wait.total_seconds(),
        "claim": None
        if claim is None
        else [claim.owner, claim.claimed_at.isoformat(), claim.generation],
        "generations": burst.generations,
        "answered": list(burst.answered),
    }


def _from_json(raw: bytes) -> Burst:
    data = json.loads(raw)
    claim = data.get("claim")
    return Burst(
        conversation_id=data["conversation_id"],
        pending=tuple(Pending(i, datetime.fromisoformat(at)) for i, at in data["pending"]),
        first_at=datetime.fromisoformat(data["first_at"]) if data.get("first_at") else None,
        delay=timedelta(seconds=data["delay"]),
        max_wait=timedelta(seconds=data["max_wait"]),
        claim=None
        if claim is None
        else Claim(claim[0], datetime.fromisoformat(claim[1]), int(claim[2])),
        generations=int(data.get("generations", 0)),
        answered=tuple(data.get("answered", ())),
    )


def _key(conversation_id: str) -> str:
    if _PLAIN_KEY.match(conversation_id):
        return conversation_id
    return "sha256." + hashlib.sha256(conversation_id.encode()).hexdigest()
