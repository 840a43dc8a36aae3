"""The embedded default: media kept as files under `<root>/<sha256[:2]>/<sha256>`.

Each object has a JSON sidecar (`<sha256>.json`) with its content type, written before the
object itself, so an object that exists always has its type. Both are written to a temporary
file in the same directory and renamed into place: a reader never sees half a file, and a crash
leaves at most a `.tmp` file behind, never a wrong object under a hash. File I/O runs in a
thread so a large file does not stall the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self
from urllib.parse import unquote, urlsplit

from threadline.media.store import (
    DEFAULT_CHUNK_SIZE,
    InvalidMediaLocation,
    MediaNotFound,
    MediaStoreUnavailable,
    StoredMedia,
    check_sha256,
    media_key,
    sha256_hex,
)

SIDECAR_SUFFIX = ".json"
DEFAULT_CONTENT_TYPE = "application/octet-stream"


class FilesystemMediaStore:
    """A MediaStore over a local directory (created on first write)."""

    def __init__(self, root: Path) -> None:
        self._root = root.expanduser().resolve()

    @property
    def root(self) -> Path:
        return self._root

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Nothing to release: every operation opens and closes its own files."""

    def path_of(self, sha256: str) -> Path:
        return self._root / media_key(sha256)

    def location_of(self, sha256: str) -> str:
        return self.path_of(sha256).as_uri()

    async def put(self, data: bytes, *, content_type: str, file_name: str = "") -> StoredMedia:
        return await asyncio.to_thread(self._put, data, content_type, file_name)

    def _put(self, data: bytes, content_type: str, file_name: str) -> StoredMedia:
        digest = sha256_hex(data)
        path = self.path_of(digest)
        with _unavailable_on_os_error():
            if not path.exists():
                sidecar = {"content_type": content_type, "size": len(data)}
                _write_atomically(_sidecar(path), json.dumps(sidecar).encode())
                _write_atomically(path, data)
        return StoredMedia(
            location=path.as_uri(),
            sha256=digest,
            size=len(data),
            content_type=content_type,
            file_name=file_name,
        )

    async def get(self, location: str) -> bytes:
        path = self._path_from(location)
        with _unavailable_on_os_error():
            return await asyncio.to_thread(path.read_bytes)

    async def stream(
        self, location: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> AsyncIterator[bytes]:
        path = self._path_from(location)
        with _unavailable_on_os_error():
            handle: BinaryIO = await asyncio.to_thread(path.open, "rb")
        try:
            while True:
                with _unavailable_on_os_error():
                    chunk = await asyncio.to_thread(handle.read, chunk_size)
                if not chunk:
                    return
                yield chunk
        finally:
            handle.close()

    async def describe(self, location: str) -> StoredMedia:
        path = self._path_from(location)
        return await asyncio.to_thread(self._describe, path)

    def _describe(self, path: Path) -> StoredMedia:
        with _unavailable_on_os_error():
            size = path.stat().st_size
            try:
                sidecar = json.loads(_sidecar(path).read_bytes())
                content_type = str(sidecar.get("content_type") or DEFAULT_CONTENT_TYPE)
            except (FileNotFoundError, ValueError, AttributeError):
                content_type = DEFAULT_CONTENT_TYPE
        return StoredMedia(
            location=path.as_uri(), sha256=path.name, size=size, content_type=content_type
        )

    async def exists(self, sha256: str) -> bool:
        path = self.path_of(sha256)
        with _unavailable_on_os_error():
            return await asyncio.to_thread(path.is_file)

    async def delete(self, location: str) -> None:
        path = self._path_from(location)
        await asyncio.to_thread(self._delete, path)

    def _delete(self, path: Path) -> None:
        # The object first: once it is gone the media no longer exists, whatever happens next.
        with _unavailable_on_os_error():
            path.unlink(missing_ok=True)
            _sidecar(path).unlink(missing_ok=True)

    def _path_from(self, location: str) -> Path:
        """The object's path, only if the location names an object of this store's root."""
        parts = urlsplit(location)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
            raise InvalidMediaLocation(f"Not a file location of this store: {location!r}.")
        path = Path(unquote(parts.path))
        try:
            digest = check_sha256(path.name)
        except InvalidMediaLocation:
            raise InvalidMediaLocation(f"Not a media object location: {location!r}.") from None
        expected = self.path_of(digest)
        if path != expected:
            raise InvalidMediaLocation(f"Location {location!r} is outside {self._root}.")
        return expected


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, flush it to disk, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (a crash right after could otherwise forget it)."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def _unavailable_on_os_error() -> Iterator[None]:
    """A missing file is MediaNotFound; any other OS failure (disk full, I/O) is transient."""
    try:
        yield
    except FileNotFoundError as error:
        raise MediaNotFound(f"No media at {error.filename}.") from error
    except OSError as error:
        raise MediaStoreUnavailable(f"Media directory failed: {error}.") from error
