"""What outbound's use cases need from outside: the Graph API, the sent ledger, a place for
results, and for customers' media: the Graph API's media endpoints and the media store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from threadline.media import MediaStore, StoredMedia
from threadline.outbound.domain.failure import WhatsAppFailure
from threadline.outbound.domain.inbound_media import InboundMedia
from threadline.outbound.domain.outbound_message import OutboundMessage
from threadline.outbound.domain.pacing import ThrottleScope


class GraphApiError(Exception):
    """The Graph API did not accept a message; `failure` says why and whether to retry."""

    def __init__(self, failure: WhatsAppFailure, *, http_status: int | None = None) -> None:
        super().__init__(f"{failure.code} {failure.title}: {failure.details or failure.message}")
        self.failure = failure
        self.http_status = http_status


class GraphApiThrottled(GraphApiError):
    """WhatsApp said "too fast" (`scope`: the number's throughput or the pair rate limit): not a
    failure of the message, which goes again once the sender slowed down."""

    def __init__(
        self, failure: WhatsAppFailure, scope: ThrottleScope, *, http_status: int | None = None
    ) -> None:
        super().__init__(failure, http_status=http_status)
        self.scope = scope


class GraphApi(Protocol):
    async def send(self, phone_number_id: str, body: Mapping[str, Any]) -> str:
        """Post `body` as `phone_number_id`; the wamid, or `GraphApiError`."""
        ...

    async def mark_read(self, phone_number_id: str, body: Mapping[str, Any]) -> None:
        """Post a read receipt `body` (which may also show the typing indicator) as
        `phone_number_id`; returns when WhatsApp answered `success`, else `GraphApiError`."""
        ...

    async def upload_media(
        self, phone_number_id: str, data: bytes, *, content_type: str, file_name: str
    ) -> str:
        """`POST /{phone_number_id}/media` (multipart): the media id to send the file by, or
        `GraphApiError`."""
        ...


@dataclass(frozen=True, slots=True)
class SentRecord:
    """WhatsApp accepted the message as `wamid` at `sent_at`; a file from the media store was
    uploaded first as `media_id`."""

    wamid: str
    sent_at: datetime
    media_id: str = ""


class SentLedger(Protocol):
    """The record of what was sent: message id → wamid, consulted before every send."""

    async def find(self, message_id: str) -> SentRecord | None:
        """What was recorded for `message_id`, if it was sent."""
        ...

    async def record(self, message_id: str, sent: SentRecord) -> None:
        """Remember that `message_id` was sent."""
        ...


class Announcements(Protocol):
    """Where the result of a dispatch is told (the session hears of it); raises when not kept.

    Announcing the same message's result again is harmless (the same id each time)."""

    async def message_dispatched(self, message: OutboundMessage, sent: SentRecord) -> None: ...

    async def message_dispatch_failed(
        self, message: OutboundMessage, failure: WhatsAppFailure, *, at: datetime
    ) -> None: ...

    async def chat_status(
        self, message: OutboundMessage, sent: SentRecord, status: str, *, at: datetime
    ) -> None:
        """A status (`threadline.rules.testchat.TEST_STATUSES`) of a message to a tester,
        reported where WhatsApp's are, for the session to record like theirs."""
        ...


class PacingMetrics(Protocol):
    """Where the dispatcher tells how pacing went (Prometheus in the service)."""

    def waited(self, seconds: float) -> None:
        """A send waited `seconds` for its turn (0 when it went at once)."""
        ...

    def throttled(self, scope: ThrottleScope) -> None:
        """WhatsApp answered a send with a throttle of `scope`."""
        ...


class NoPacingMetrics:
    """Tells nobody."""

    def waited(self, seconds: float) -> None:
        pass

    def throttled(self, scope: ThrottleScope) -> None:
        pass


class DownloadUrlExpired(GraphApiError):
    """A media download URL was refused (Meta: 401 or 404; the sandbox: 404 once expired): ask
    `GET /{media-id}` for a fresh one."""


class MediaTooLarge(Exception):
    """A download went past the size it was allowed (`limit` bytes)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the file is larger than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True, slots=True)
class MediaDescription:
    """What `GET /{media-id}` answers: a download URL (valid a few minutes) and the file's
    type, hash (hex; "" when not given) and size (None when not given)."""

    media_id: str
    url: str
    mime_type: str
    sha256: str
    file_size: int | None


class GraphMedia(Protocol):
    """The Graph API's media endpoints, as far as keeping a customer's file needs them."""

    async def describe_media(self, media_id: str) -> MediaDescription:
        """`GET /{media-id}`; `GraphApiError` (not retryable for an unknown or expired id)."""
        ...

    async def download_media(self, url: str, *, max_bytes: int) -> bytes:
        """The file behind `url` (bearer token), at most `max_bytes`: `MediaTooLarge` past it,
        `DownloadUrlExpired` when the URL is no longer good, `GraphApiError` otherwise."""
        ...


class AddressedMediaStore(MediaStore, Protocol):
    """A `MediaStore` that can name where bytes of a given hash are, so a file already kept
    is described without being downloaded again (both `threadline.media` adapters can)."""

    def location_of(self, sha256: str) -> str: ...


class MediaAnnouncements(Protocol):
    """Where the fate of a customer's media is told; raises when not kept. The same message's
    result announced again is harmless (the same `Nats-Msg-Id` each time)."""

    async def media_kept(
        self, media: InboundMedia, stored: StoredMedia, *, at: datetime
    ) -> None: ...

    async def media_keep_failed(
        self, media: InboundMedia, reason: str, *, refused: bool, attempts: int, at: datetime
    ) -> None: ...
