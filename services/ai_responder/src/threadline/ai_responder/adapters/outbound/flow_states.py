"""Each conversation's running flow in a JetStream KeyValue bucket, shared by every responder
process and every restart (`FlowStates`).

Key: `f.<conversation id>` → the running flow as JSON (the engine's state, the number, the
customer message its latest reply answers, when it started). Every write is a compare-and-set
on the revision the turn was computed from, so of two responders taking one conversation's
burst (or one taking it while another expires the flow) one wins. An ended flow is deleted:
only running flows are kept. `due` reads every running flow (a scan: there are as many as
customers in the middle of a flow), kept `KEEP_FOR` after the last change."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Final

from nats.js import JetStreamContext
from nats.js.errors import KeyDeletedError, KeyNotFoundError, KeyWrongLastSequenceError, NoKeysError
from nats.js.kv import KeyValue

from threadline.ai_responder.application.flow_running import RunningFlow
from threadline.ai_responder.domain.flows.engine import FlowState, FlowStatus
from threadline.messaging.key_value import bucket_answers, open_bucket, plain_key
from threadline.servicekit.ops_http import ReadinessCheck

BUCKET: Final = "AI_RESPONDER_FLOWS"
# Longer than any flow's expiry is sensible to be; a flow kept this long untouched is forgotten.
KEEP_FOR: Final = timedelta(days=30)
PREFIX: Final = "f"


class KeyValueFlowStates:
    def __init__(self, bucket: KeyValue) -> None:
        self._bucket = bucket

    @classmethod
    async def open(cls, js: JetStreamContext, *, namespace: str = "") -> KeyValueFlowStates:
        bucket = await open_bucket(
            js,
            BUCKET,
            namespace=namespace,
            keep_for=KEEP_FOR,
            description="ai_responder: each conversation's running flow",
        )
        return cls(bucket)

    def check(self) -> ReadinessCheck:
        return bucket_answers(self._bucket, "the flows' bucket")

    async def read(self, conversation_id: str) -> tuple[RunningFlow | None, int]:
        try:
            entry = await self._bucket.get(plain_key(PREFIX, conversation_id))
        except (KeyNotFoundError, KeyDeletedError):
            return None, 0
        if not entry.value:
            return None, 0
        return decode(entry.value), entry.revision or 0

    async def keep(self, flow: RunningFlow, revision: int) -> bool:
        key = plain_key(PREFIX, flow.conversation_id)
        try:
            if not flow.state.running:
                if revision:
                    await self._bucket.delete(key, last=revision)
                return True
            if revision:
                await self._bucket.update(key, encode(flow), last=revision)
            else:
                await self._bucket.create(key, encode(flow))
        except KeyWrongLastSequenceError:
            return False
        return True

    async def due(self, now: datetime) -> list[str]:
        try:
            keys = await self._bucket.keys()
        except NoKeysError:
            return []
        due = []
        for key in keys:
            try:
                entry = await self._bucket.get(key)
            except (KeyNotFoundError, KeyDeletedError):
                continue
            if not entry.value:
                continue
            flow = decode(entry.value)
            if flow.state.running and flow.state.expires_at <= now:
                due.append(flow.conversation_id)
        return due


def encode(flow: RunningFlow) -> bytes:
    state = flow.state
    return json.dumps(
        {
            "conversation_id": flow.conversation_id,
            "business_number": flow.business_number,
            "last_message_id": flow.last_message_id,
            "started_at": flow.started_at.isoformat(),
            "flow_id": state.flow_id,
            "version": state.version,
            "current_step_id": state.current_step_id,
            "session_data": dict(state.session_data),
            "expires_at": state.expires_at.isoformat(),
            "status": state.status.value,
            "retries": state.retries,
        },
        ensure_ascii=False,
        sort_keys=True,
    ).encode()


def decode(raw: bytes) -> RunningFlow:
    kept = json.loads(raw)
    return RunningFlow(
        conversation_id=kept["conversation_id"],
        business_number=kept["business_number"],
        last_message_id=kept["last_message_id"],
        started_at=datetime.fromisoformat(kept["started_at"]),
        state=FlowState(
            flow_id=kept["flow_id"],
            version=int(kept["version"]),
            current_step_id=kept["current_step_id"],
            session_data={str(k): str(v) for k, v in kept["session_data"].items()},
            expires_at=datetime.fromisoformat(kept["expires_at"]),
            status=FlowStatus(kept["status"]),
            retries=int(kept["retries"]),
        ),
    )
