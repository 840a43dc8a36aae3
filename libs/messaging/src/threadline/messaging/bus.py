"""The `EventBus` port: publish a protobuf message on a subject, idempotently."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from google.protobuf.message import Message
from nats.js import JetStreamContext

from threadline.servicekit.telemetry import inject_trace_headers

MSG_ID = "Nats-Msg-Id"


@dataclass(frozen=True, slots=True)
class PublishAck:
    stream: str
    sequence: int
    duplicate: bool


class EventBus(Protocol):
    async def publish(
        self,
        subject: str,
        message: Message | bytes,
        *,
        msg_id: str,
        headers: Mapping[str, str] | None = None,
    ) -> PublishAck: ...


class JetStreamBus:
    """Publishes to JetStream with `Nats-Msg-Id` (dedup) and the current `traceparent`."""

    def __init__(self, js: JetStreamContext, *, timeout: float = 5.0) -> None:
        self._js = js
        self._timeout = timeout

    async def publish(
        self,
        subject: str,
        message: Message | bytes,
        *,
        msg_id: str,
        headers: Mapping[str, str] | None = None,
    ) -> PublishAck:
        all_headers = dict(headers or {})
        all_headers[MSG_ID] = msg_id
        if "traceparent" not in all_headers:
            inject_trace_headers(all_headers)
        payload = message if isinstance(message, bytes) else message.SerializeToString()
        ack = await self._js.publish(subject, payload, timeout=self._timeout, headers=all_headers)
        return PublishAck(stream=ack.stream, sequence=ack.seq, duplicate=bool(ack.duplicate))


@dataclass(frozen=True, slots=True)
class Published:
    subject: str
    payload: bytes
    headers: dict[str, str]


@dataclass
class InMemoryBus:
    """An `EventBus` for unit tests: keeps what was published, dedups by message id."""

    published: list[Published] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)

    async def publish(
        self,
        subject: str,
        message: Message | bytes,
        *,
        msg_id: str,
        headers: Mapping[str, str] | None = None,
    ) -> PublishAck:
        duplicate = msg_id in self._seen
        if not duplicate:
            self._seen.add(msg_id)
            payload = message if isinstance(message, bytes) else message.SerializeToString()
            all_headers = {**(headers or {}), MSG_ID: msg_id}
            if "traceparent" not in all_headers:
                inject_trace_headers(all_headers)
            self.published.append(Published(subject, payload, all_headers))
        return PublishAck(stream="memory", sequence=len(self.published), duplicate=duplicate)

    def on(self, prefix: str) -> list[Published]:
        return [p for p in self.published if p.subject.startswith(prefix)]
