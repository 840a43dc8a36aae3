"""The media the sandbox holds: files businesses upload and files its customers send.

As on the Cloud API, a media id expires (uploaded media after 30 days, media received from a
customer after 7: both configurable) and a download URL expires sooner (about 5 minutes). The
URL carries its own expiry and an HMAC of it under a key made when the sandbox starts, so it
needs no bookkeeping and cannot be forged or extended. Storage is bounded like the outbox: the
oldest media are dropped past a count or a total size.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

DEFAULT_MEDIA_LIMIT: Final = 1000
DEFAULT_MEDIA_BYTES_LIMIT: Final = 256 * 1024 * 1024
DEFAULT_URL_TTL_S: Final = 300.0
DEFAULT_UPLOADED_TTL_S: Final = 30 * 24 * 3600.0
DEFAULT_RECEIVED_TTL_S: Final = 7 * 24 * 3600.0

Origin = Literal["uploaded", "received"]


@dataclass(frozen=True, kw_only=True)
class StoredMedia:
    """One file: its bytes and what `GET /{media-id}` says about them."""

    id: str
    phone_number_id: str
    mime_type: str
    data: bytes
    filename: str | None
    origin: Origin
    expires_at: float

    @property
    def sha256_hex(self) -> str:
        """The hash `GET /{media-id}` answers (hex)."""
        return hashlib.sha256(self.data).hexdigest()

    @property
    def sha256_base64(self) -> str:
        """The hash a media message webhook carries (base64, as in Meta's samples)."""
        return base64.b64encode(hashlib.sha256(self.data).digest()).decode()


class MediaLibrary:
    """Media by id, the oldest dropped past `limit` files or `bytes_limit` bytes in all."""

    def __init__(
        self,
        *,
        limit: int = DEFAULT_MEDIA_LIMIT,
        bytes_limit: int = DEFAULT_MEDIA_BYTES_LIMIT,
        url_ttl_s: float = DEFAULT_URL_TTL_S,
        uploaded_ttl_s: float = DEFAULT_UPLOADED_TTL_S,
        received_ttl_s: float = DEFAULT_RECEIVED_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if limit < 1 or bytes_limit < 1:
            raise ValueError(f"media limits must be at least 1, got {limit} and {bytes_limit}")
        self.bytes_limit = bytes_limit
        self._limit = limit
        self._url_ttl_s = url_ttl_s
        self._ttl_s: dict[Origin, float] = {"uploaded": uploaded_ttl_s, "received": received_ttl_s}
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._media: OrderedDict[str, StoredMedia] = OrderedDict()
        self._bytes = 0

    def add(
        self,
        data: bytes,
        mime_type: str,
        *,
        phone_number_id: str,
        origin: Origin,
        filename: str | None = None,
    ) -> StoredMedia:
        """Keep a file and give it a fresh id; raises `ValueError` past `bytes_limit` alone."""
        if len(data) > self.bytes_limit:
            raise ValueError(f"the file is {len(data)} bytes; the sandbox keeps {self.bytes_limit}")
        media = StoredMedia(
            id=str(10**15 + secrets.randbelow(9 * 10**15)),
            phone_number_id=phone_number_id,
            mime_type=mime_type,
            data=data,
            filename=filename,
            origin=origin,
            expires_at=self._clock() + self._ttl_s[origin],
        )
        self._media[media.id] = media
        self._bytes += len(data)
        while len(self._media) > self._limit or self._bytes > self.bytes_limit:
            _, dropped = self._media.popitem(last=False)
            self._bytes -= len(dropped.data)
        return media

    def get(self, media_id: str) -> StoredMedia | None:
        """The media `media_id` while it is kept and has not expired."""
        media = self._media.get(media_id)
        if media is not None and media.expires_at <= self._clock():
            self.delete(media_id)
            return None
        return media

    def delete(self, media_id: str) -> bool:
        """Forget `media_id`; False when it was not kept."""
        media = self._media.pop(media_id, None)
        if media is None:
            return False
        self._bytes -= len(media.data)
        return True

    def signed_query(self, media_id: str) -> dict[str, str]:
        """The query of a fresh download URL for `media_id`: id, expiry (unix s) and signature."""
        expires = f"{self._clock() + self._url_ttl_s:.3f}"
        return {"mid": media_id, "ext": expires, "hash": self._signature(media_id, expires)}

    def check_url(self, media_id: str, expires: str, signature: str) -> str | None:
        """Why a download URL is refused (forged, expired), or None when it is good."""
        if not hmac.compare_digest(signature.encode(), self._signature(media_id, expires).encode()):
            return "the URL signature is invalid"
        try:
            expired = float(expires) <= self._clock()
        except ValueError:
            return "the URL signature is invalid"
        return "the URL has expired; ask GET /{media-id} for a new one" if expired else None

    def _signature(self, media_id: str, expires: str) -> str:
        digest = hmac.new(self._key, f"{media_id}:{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")
