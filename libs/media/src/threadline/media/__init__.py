"""Where media files are kept: a content-addressed store with a filesystem and an S3 adapter."""

from threadline.media.config import media_store_from_env
from threadline.media.filesystem import FilesystemMediaStore
from threadline.media.s3 import S3Config, S3MediaStore
from threadline.media.store import (
    InvalidMediaLocation,
    MediaNotFound,
    MediaStore,
    MediaStoreError,
    MediaStoreUnavailable,
    StoredMedia,
    media_key,
    sha256_hex,
)

__all__ = [
    "FilesystemMediaStore",
    "InvalidMediaLocation",
    "MediaNotFound",
    "MediaStore",
    "MediaStoreError",
    "MediaStoreUnavailable",
    "S3Config",
    "S3MediaStore",
    "StoredMedia",
    "media_key",
    "media_store_from_env",
    "sha256_hex",
]
