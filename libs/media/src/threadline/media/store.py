"""The MediaStore port: bytes kept under their sha256, so the same file is stored once.

Callers (the media keeper, the gallery, operator uploads) hold only a `StoredMedia`: the
`location` URI it returns is what goes into events, so a conversation's attachment can be read
back from whichever adapter wrote it without knowing which one that was.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")

DEFAULT_CHUNK_SIZE = 256 * 1024


class MediaStoreError(Exception):
    """The store refused or failed an operation for a reason that retrying will not fix."""


class MediaStoreUnavailable(MediaStoreError):
    """The store could not be reached or answered with a transient error: try again later."""


class MediaNotFound(MediaStoreError):
    """No object at that location (never stored, or deleted)."""


class InvalidMediaLocation(MediaStoreError, ValueError):
    """The location is not one this store hands out (another scheme, bucket or root)."""


@dataclass(frozen=True, slots=True)
class StoredMedia:
    """One stored file as events record it.

    `file_name` is the caller's name for this copy: two attachments with the same bytes share
    one object but keep their own names, so it is not part of what the store keeps.
    """

    location: str
    sha256: str
    size: int
    content_type: str
    file_name: str = ""


@runtime_checkable
class MediaStore(Protocol):
    """Content-addressed media storage; every method is safe to retry."""

    async def put(self, data: bytes, *, content_type: str, file_name: str = "") -> StoredMedia:
        """Keep `data` under its sha256; storing the same bytes again writes nothing new."""
        ...

    async def get(self, location: str) -> bytes:
        """The whole file; raises MediaNotFound when nothing is there."""
        ...

    def stream(
        self, location: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> AsyncIterator[bytes]:
        """The file in chunks, for serving large files without holding them in memory."""
        ...

    async def describe(self, location: str) -> StoredMedia:
        """What the store knows of the object (content type, size, sha256), without its bytes."""
        ...

    async def exists(self, sha256: str) -> bool:
        """Whether bytes with this hash are already kept (lets a caller skip a download)."""
        ...

    async def delete(self, location: str) -> None:
        """Remove the object; deleting what is already gone is not an error (retries)."""
        ...

    async def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def media_key(sha256: str) -> str:
    """`ab/abcdef…`: the two-character fan-out keeps directories (and S3 listings) small."""
    checked = check_sha256(sha256)
    return f"{checked[:2]}/{checked}"


def check_sha256(sha256: str) -> str:
    """The hash in lower case, or InvalidMediaLocation: it becomes part of a path or key."""
    lowered = sha256.lower()
    if not SHA256_PATTERN.fullmatch(lowered):
        raise InvalidMediaLocation(f"Not a sha256 hex digest: {sha256!r}.")
    return lowered
