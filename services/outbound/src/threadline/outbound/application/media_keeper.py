"""Keeping a customer's file: fetched from the Graph API, checked, stored, announced.

Meta keeps a customer's media for 7 days and its download URL for about 5 minutes, so the file
is fetched as soon as the message is recorded: `GET /{media-id}` (URL, type, hash, size), then
the URL with the bearer token, at most `max_bytes` of it. The bytes must hash to what Meta said
(the webhook's `sha256`, the look-up's, or both); they are stored in the content-addressed
`MediaStore` and `MediaKept` is announced with where they are.

A file is downloaded once: when the hash is known before the download (the webhook's, else the
look-up's) and the store already has those bytes, they are described, not fetched again (a
redelivered message, the same photo sent twice).

What a failure becomes:
- refused on purpose (larger than `max_bytes`, the bytes do not match the hash):
  `MediaKeepFailed` with `refused`, at once;
- WhatsApp will never give it (an unknown or expired media id, Graph's 400 code 100 subcode 33,
  or any other permanent answer): `MediaKeepFailed`, at once;
- an expired download URL: looked up again for a fresh URL, in the same attempt;
- anything that may pass (a 5xx, a timeout, the store unavailable): `WillRetry`, and on the
  last attempt `MediaKeepFailed` with the reason. The look-up of an attempt is remembered
  (`URL_MEMORY` media), so a retry within the URL's life does not ask for it again.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, replace

from threadline.media import MediaStoreError, MediaStoreUnavailable, StoredMedia, sha256_hex
from threadline.outbound.application.ports import (
    AddressedMediaStore,
    DownloadUrlExpired,
    GraphApiError,
    GraphMedia,
    MediaAnnouncements,
    MediaDescription,
    MediaTooLarge,
)
from threadline.outbound.domain.inbound_media import InboundMedia, sha256_hex_of
from threadline.servicekit.clock import Clock, utc_now

log = logging.getLogger(__name__)

URL_MEMORY = 1024  # look-ups remembered for a retry
DEFAULT_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Kept:
    """The file is in the store (`downloaded` bytes fetched for it: 0 when it already was);
    `MediaKept` was announced. `url_refreshed`: a download URL had expired on the way."""

    stored: StoredMedia
    downloaded: int
    url_refreshed: bool = False


@dataclass(frozen=True, slots=True)
class Refused:
    """Not kept on purpose (too large, wrong hash); `MediaKeepFailed` (refused) announced."""

    reason: str


@dataclass(frozen=True, slots=True)
class GaveUp:
    """Not kept and never will be (WhatsApp refused, or the last attempt failed);
    `MediaKeepFailed` announced."""

    reason: str


@dataclass(frozen=True, slots=True)
class WillRetry:
    """A failure that may pass; nothing announced, try again later."""

    reason: str


KeepResult = Kept | Refused | GaveUp | WillRetry


class _Refusal(Exception):
    """The file will not be kept, on purpose."""


class _Transient(Exception):
    """A failure that may pass."""


class MediaKeeper:
    """The use case: keep one customer message's media."""

    def __init__(
        self,
        *,
        graph: GraphMedia,
        store: AddressedMediaStore,
        announcements: MediaAnnouncements,
        max_bytes: int,
        clock: Clock = utc_now,
    ) -> None:
        self._graph = graph
        self._store = store
        self._announcements = announcements
        self._max_bytes = max_bytes
        self._clock = clock
        self._looked_up: OrderedDict[str, MediaDescription] = OrderedDict()

    async def keep(self, media: InboundMedia, *, attempt: int, last_attempt: bool) -> KeepResult:
        """Fetch, check, store and announce `media` (the `attempt`th delivery of its message).
        Raises only when the announcement could not be made (the caller retries)."""
        try:
            kept = await self._fetch_and_store(media)
        except _Refusal as refusal:
            return await self._failed(media, str(refusal), refused=True, attempts=attempt)
        except GraphApiError as error:
            if error.failure.retryable and not last_attempt:
                return self._will_retry(media, _reason(error))
            return await self._failed(media, _reason(error), refused=False, attempts=attempt)
        except (_Transient, MediaStoreUnavailable) as error:
            if not last_attempt:
                return self._will_retry(media, str(error))
            return await self._failed(media, str(error), refused=False, attempts=attempt)
        except MediaStoreError as error:
            return await self._failed(
                media, f"the media store refused it: {error}", refused=False, attempts=attempt
            )
        self._looked_up.pop(media.media_id, None)
        await self._announcements.media_kept(media, kept.stored, at=self._clock())
        log.info(
            "kept %s %s of message %s (%d bytes, %s)",
            media.media_type,
            media.media_id,
            media.message_id,
            kept.stored.size,
            "downloaded" if kept.downloaded else "already kept",
        )
        return kept

    async def _fetch_and_store(self, media: InboundMedia) -> Kept:
        already = await self._already_kept(media, media.sha256)
        if already is not None:
            return Kept(already, downloaded=0)
        description = await self._describe(media.media_id, fresh=False)
        if description.file_size is not None and description.file_size > self._max_bytes:
            raise _Refusal(self._too_large(description.file_size))
        already = await self._already_kept(media, description.sha256)
        if already is not None:
            return Kept(already, downloaded=0)
        refreshed = False
        try:
            data = await self._download(description)
        except DownloadUrlExpired:
            log.info("download URL of media %s expired; asking for a new one", media.media_id)
            refreshed = True
            description = await self._describe(media.media_id, fresh=True)
            try:
                data = await self._download(description)
            except DownloadUrlExpired as error:
                self._looked_up.pop(media.media_id, None)
                raise _Transient(f"a fresh download URL was refused too: {error}") from error
        actual = sha256_hex(data)
        for source, expected in (("the webhook", media.sha256), ("Meta", description.sha256)):
            if expected and expected != actual:
                raise _Refusal(
                    f"the {len(data)} bytes downloaded hash to {actual}, not to {expected} as"
                    f" {source} says"
                )
        content_type = description.mime_type or media.mime_type or DEFAULT_CONTENT_TYPE
        stored = await self._store.put(data, content_type=content_type, file_name=media.file_name)
        return Kept(stored, downloaded=len(data), url_refreshed=refreshed)

    async def _already_kept(self, media: InboundMedia, sha256: str) -> StoredMedia | None:
        if not sha256 or not await self._store.exists(sha256):
            return None
        stored = await self._store.describe(self._store.location_of(sha256))
        return StoredMedia(
            location=stored.location,
            sha256=stored.sha256,
            size=stored.size,
            content_type=stored.content_type,
            file_name=media.file_name,
        )

    async def _describe(self, media_id: str, *, fresh: bool) -> MediaDescription:
        remembered = None if fresh else self._looked_up.get(media_id)
        if remembered is not None:
            return remembered
        looked_up = await self._graph.describe_media(media_id)
        description = replace(looked_up, sha256=sha256_hex_of(looked_up.sha256) or "")
        self._looked_up[media_id] = description
        self._looked_up.move_to_end(media_id)
        while len(self._looked_up) > URL_MEMORY:
            self._looked_up.popitem(last=False)
        return description

    async def _download(self, description: MediaDescription) -> bytes:
        try:
            return await self._graph.download_media(description.url, max_bytes=self._max_bytes)
        except MediaTooLarge as error:
            raise _Refusal(self._too_large(None, limit=error.limit)) from error

    def _too_large(self, size: int | None, *, limit: int | None = None) -> str:
        limit = self._max_bytes if limit is None else limit
        what = f"{size} bytes" if size is not None else f"more than {limit} bytes"
        return f"the file is {what}; media larger than {limit} bytes are not kept"

    def _will_retry(self, media: InboundMedia, reason: str) -> WillRetry:
        log.warning("keeping media %s failed, will retry: %s", media.media_id, reason)
        return WillRetry(reason)

    async def _failed(
        self, media: InboundMedia, reason: str, *, refused: bool, attempts: int
    ) -> Refused | GaveUp:
        self._looked_up.pop(media.media_id, None)
        log.warning(
            "media %s of message %s not kept (%s): %s",
            media.media_id,
            media.message_id,
            "refused" if refused else "failed",
            reason,
        )
        await self._announcements.media_keep_failed(
            media, reason, refused=refused, attempts=attempts, at=self._clock()
        )
        return Refused(reason) if refused else GaveUp(reason)


def _reason(error: GraphApiError) -> str:
    """What an operator reads: the Graph API's code and own words (its title repeats them)."""
    failure = error.failure
    said = failure.message or failure.title
    if failure.details and failure.details not in said:
        said = f"{said} ({failure.details})"
    code = f" code {failure.code}" if failure.code else ""
    status = f" HTTP {error.http_status}" if error.http_status else ""
    return f"Graph API{status}{code}: {said}"
