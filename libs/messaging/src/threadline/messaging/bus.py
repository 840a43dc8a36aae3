"""The `EventBus` port: publish a protobuf message on a subject, idempotently."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import nats.errors
from google.protobuf.message import Message
from nats.aio.client import Client as NatsClient
from nats.errors import BadSubjectError, MaxPayloadError
from nats.js import JetStreamContext, api

from threadline.messaging.acks import AckInbox
from threadline.messaging.tracing import publishing

MSG_ID = "Nats-Msg-Id"
# NATS's default `max_payload`; a connection learns the server's own value when it connects.
DEFAULT_MAX_PAYLOAD = 1024 * 1024
_HEADER_LINE = len(b"NATS/1.0\r\n") + len(b"\r\n")


class MessageTooLarge(MaxPayloadError):
    """Payload and headers together exceed what the server accepts in one message.

    Checked before publishing: the server answers an oversized message by closing the
    connection (every publish in flight on it fails), and nats-py checks the payload alone.
    """

    def __init__(self, size: int, limit: int) -> None:
        super().__init__()
        self.size, self.limit = size, limit

    def __str__(self) -> str:
        return f"message of {self.size} bytes exceeds the maximum payload of {self.limit} bytes"


# The server reads a publish's subject in its control line (4,096 bytes by default) and closes
# the connection on a longer one; subjects made from input (ingest's phone_number_id) are
# refused before that.
MAX_SUBJECT_BYTES = 3072


class SubjectTooLong(BadSubjectError):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def __str__(self) -> str:
        return f"subject of {self.size} bytes exceeds {MAX_SUBJECT_BYTES}"


def check_subject(subject: str) -> None:
    size = len(subject.encode())
    if size > MAX_SUBJECT_BYTES:
        raise SubjectTooLong(size)


def encoded_size(payload: bytes, headers: Mapping[str, str] | None) -> int:
    """What a message weighs against `max_payload`: its payload and its header block."""
    if not headers:
        return len(payload)
    block = sum(len(k.encode()) + len(str(v).encode()) + 4 for k, v in headers.items())
    return len(payload) + _HEADER_LINE + block


def check_size(payload: bytes, headers: Mapping[str, str], limit: int) -> None:
    """Refuse a message heavier than `limit` (`max_payload`) before it is sent."""
    size = encoded_size(payload, headers)
    if size > limit:
        raise MessageTooLarge(size, limit)


def payload_limit(bus: object) -> int:
    """The largest message `bus` can publish (`max_payload`), or NATS's default."""
    limit = getattr(bus, "max_payload", None)
    return limit if isinstance(limit, int) and limit > 0 else DEFAULT_MAX_PAYLOAD


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


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message of a pipelined publish (`PipelinedBus.publish_each`)."""

    subject: str
    payload: bytes
    msg_id: str
    headers: Mapping[str, str]


Outcome = PublishAck | BaseException


class PipelinedBus(EventBus, Protocol):
    async def publish_each(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        """Publish `messages` in order, each sent without waiting for the acknowledgement of
        the one before; each one's acknowledgement, or what failed it (never raised)."""
        ...


class JetStreamBus:
    """Publishes to JetStream with `Nats-Msg-Id` (dedup), in a PRODUCER span whose
    `traceparent` the message carries (`tracing.publishing`)."""

    def __init__(self, js: JetStreamContext, *, timeout: float = 5.0) -> None:
        self._js = js
        self._timeout = timeout
        self._acks: AckInbox | None = None  # publish_each's replies, made on first use

    @property
    def max_payload(self) -> int:
        """The server's limit on one message (payload and headers), as the connection knows."""
        client = getattr(self._js, "_nc", None)
        limit = getattr(client, "max_payload", None)
        return limit if isinstance(limit, int) and limit > 0 else DEFAULT_MAX_PAYLOAD

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
        payload = message if isinstance(message, bytes) else message.SerializeToString()
        check_subject(subject)
        with publishing(subject, all_headers):
            check_size(payload, all_headers, self.max_payload)
            ack = await self._js.publish(
                subject, payload, timeout=self._timeout, headers=all_headers
            )
        return PublishAck(stream=ack.stream, sequence=ack.seq, duplicate=bool(ack.duplicate))

    async def publish_each(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        """Each message published with a reply subject of one subscription (`acks.AckInbox`),
        then every acknowledgement awaited together, within the bus's timeout — no request,
        task or timer per message: for a relay's rounds of 500 events about a third of the CPU
        of a `publish` each (docs/benchmarks.md §9)."""
        acks = self._ack_inbox()
        outcomes: dict[int, Outcome] = {}
        pending: list[tuple[int, str, asyncio.Future[api.PubAck]]] = []
        for index, message in enumerate(messages):
            headers = {**message.headers, MSG_ID: message.msg_id}
            reply = ""
            try:
                check_subject(message.subject)
                with publishing(message.subject, headers):
                    check_size(message.payload, headers, self.max_payload)
                    reply, future = await acks.expect()
                    await self._client.publish(
                        message.subject, message.payload, reply=reply, headers=headers
                    )
            except Exception as error:
                if reply:
                    acks.forget(reply)
                outcomes[index] = error
                continue
            pending.append((index, reply, future))
        if pending:
            await asyncio.wait([future for _, _, future in pending], timeout=self._timeout)
        for index, reply, future in pending:
            if not future.done():
                acks.forget(reply)  # not answered in time: given up
            outcomes[index] = _outcome(future)
        return [outcomes[index] for index in range(len(messages))]

    @property
    def _client(self) -> NatsClient:
        client: NatsClient = self._js._nc
        return client

    def _ack_inbox(self) -> AckInbox:
        if self._acks is None:
            self._acks = AckInbox(self._client)
        return self._acks


def _outcome(future: asyncio.Future[api.PubAck]) -> Outcome:
    """A publish's acknowledgement, or what failed it (a cancelled one was not answered)."""
    if future.cancelled():
        return nats.errors.TimeoutError()
    error = future.exception()
    if error is not None:
        return error
    ack = future.result()
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
    max_payload: int = DEFAULT_MAX_PAYLOAD
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
            payload = message if isinstance(message, bytes) else message.SerializeToString()
            all_headers = {**(headers or {}), MSG_ID: msg_id}
            check_subject(subject)
            with publishing(subject, all_headers):
                check_size(payload, all_headers, self.max_payload)
                self._seen.add(msg_id)
                self.published.append(Published(subject, payload, all_headers))
        return PublishAck(stream="memory", sequence=len(self.published), duplicate=duplicate)

    async def publish_each(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for message in messages:
            try:
                outcomes.append(
                    await self.publish(
                        message.subject,
                        message.payload,
                        msg_id=message.msg_id,
                        headers=message.headers,
                    )
                )
            except Exception as error:
                outcomes.append(error)
        return outcomes

    def on(self, prefix: str) -> list[Published]:
        return [p for p in self.published if p.subject.startswith(prefix)]
