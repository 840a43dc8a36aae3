"""Media in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2, …), for production.

Over `aiobotocore` rather than `aioboto3`: aioboto3 only adds boto3's resource layer on top of
aiobotocore, and the store needs nothing but five client calls; aiobotocore is the maintained
aio-libs project underneath both, with typed stubs (types-aiobotocore-s3).

Objects are keyed `<prefix><sha256[:2]>/<sha256>`, with the content type as the object's
Content-Type and the hash in its metadata; locations are `s3://<bucket>/<key>`. The client is
opened on first use, so building the store connects nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Self
from urllib.parse import urlsplit

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
)

from threadline.media.store import (
    DEFAULT_CHUNK_SIZE,
    InvalidMediaLocation,
    MediaNotFound,
    MediaStoreError,
    MediaStoreUnavailable,
    StoredMedia,
    check_sha256,
    media_key,
    sha256_hex,
)

if TYPE_CHECKING:
    from aiobotocore.session import ClientCreatorContext
    from types_aiobotocore_s3 import S3Client

NOT_FOUND_CODES = frozenset({"NoSuchKey", "NotFound", "404"})
TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "ServiceUnavailable",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "TooManyRequests",
    }
)


@dataclass(frozen=True, slots=True)
class S3Config:
    """Where the bucket is and how to reach it; credentials None means botocore's own chain
    (environment, shared files, instance role)."""

    bucket: str
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    key_prefix: str = ""
    create_bucket: bool = False
    addressing_style: str = "path"
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_attempts: int = 3


class S3MediaStore:
    """A MediaStore over one bucket of an S3-compatible service."""

    def __init__(self, config: S3Config) -> None:
        self._config = config
        self._prefix = config.key_prefix.strip("/") + "/" if config.key_prefix.strip("/") else ""
        self._client: S3Client | None = None
        self._stack: AsyncExitStack | None = None
        self._opening = asyncio.Lock()

    @property
    def config(self) -> S3Config:
        return self._config

    async def __aenter__(self) -> Self:
        await self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    def key_of(self, sha256: str) -> str:
        return self._prefix + media_key(sha256)

    def location_of(self, sha256: str) -> str:
        return f"s3://{self._config.bucket}/{self.key_of(sha256)}"

    async def put(self, data: bytes, *, content_type: str, file_name: str = "") -> StoredMedia:
        digest = await asyncio.to_thread(sha256_hex, data)
        key = self.key_of(digest)
        client = await self._open()
        if not await self._head(client, key):
            with _translated_errors(key):
                await client.put_object(
                    Bucket=self._config.bucket,
                    Key=key,
                    Body=data,
                    ContentType=content_type,
                    Metadata={"sha256": digest},
                )
        return StoredMedia(
            location=self.location_of(digest),
            sha256=digest,
            size=len(data),
            content_type=content_type,
            file_name=file_name,
        )

    async def get(self, location: str) -> bytes:
        key = self._key_from(location)
        client = await self._open()
        with _translated_errors(key):
            response = await client.get_object(Bucket=self._config.bucket, Key=key)
            async with response["Body"] as body:
                return await body.read()

    async def stream(
        self, location: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> AsyncIterator[bytes]:
        key = self._key_from(location)
        client = await self._open()
        with _translated_errors(key):
            response = await client.get_object(Bucket=self._config.bucket, Key=key)
            async with response["Body"] as body:
                async for chunk in body.iter_chunks(chunk_size):
                    yield chunk

    async def describe(self, location: str) -> StoredMedia:
        key = self._key_from(location)
        client = await self._open()
        with _translated_errors(key):
            head = await client.head_object(Bucket=self._config.bucket, Key=key)
        return StoredMedia(
            location=location,
            sha256=key.rsplit("/", 1)[-1],
            size=head["ContentLength"],
            content_type=head.get("ContentType") or "application/octet-stream",
        )

    async def exists(self, sha256: str) -> bool:
        client = await self._open()
        return await self._head(client, self.key_of(sha256))

    async def delete(self, location: str) -> None:
        key = self._key_from(location)
        client = await self._open()
        with _translated_errors(key):
            await client.delete_object(Bucket=self._config.bucket, Key=key)

    async def _head(self, client: S3Client, key: str) -> bool:
        try:
            with _translated_errors(key):
                await client.head_object(Bucket=self._config.bucket, Key=key)
        except MediaNotFound:
            return False
        return True

    def _key_from(self, location: str) -> str:
        """The object key, only if the location names an object of this store's bucket."""
        parts = urlsplit(location)
        if parts.scheme != "s3" or parts.netloc != self._config.bucket:
            raise InvalidMediaLocation(
                f"Not a location in bucket {self._config.bucket}: {location!r}."
            )
        key = parts.path.lstrip("/")
        try:
            expected = self.key_of(check_sha256(key.rsplit("/", 1)[-1]))
        except InvalidMediaLocation:
            raise InvalidMediaLocation(f"Not a media object location: {location!r}.") from None
        if key != expected:
            raise InvalidMediaLocation(f"Location {location!r} is outside this store's keys.")
        return key

    async def _open(self) -> S3Client:
        if self._client is not None:
            return self._client
        async with self._opening:
            if self._client is None:
                stack = AsyncExitStack()
                try:
                    client = await stack.enter_async_context(self._create_client())
                    if self._config.create_bucket:
                        await self._ensure_bucket(client)
                except BaseException:
                    await stack.aclose()
                    raise
                self._stack, self._client = stack, client
            return self._client

    def _create_client(self) -> ClientCreatorContext[S3Client]:
        config = self._config
        return get_session().create_client(
            "s3",
            endpoint_url=config.endpoint_url,
            region_name=config.region,
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
            aws_session_token=config.session_token,
            config=AioConfig(
                connect_timeout=config.connect_timeout,
                read_timeout=config.read_timeout,
                retries={"max_attempts": config.max_attempts, "mode": "standard"},
                s3={"addressing_style": config.addressing_style},
            ),
        )

    async def _ensure_bucket(self, client: S3Client) -> None:
        bucket = self._config.bucket
        try:
            with _translated_errors(bucket):
                await client.head_bucket(Bucket=bucket)
            return
        except MediaNotFound:
            pass
        with _translated_errors(bucket):
            try:
                if self._config.region == "us-east-1":
                    await client.create_bucket(Bucket=bucket)
                else:
                    await client.create_bucket(
                        Bucket=bucket,
                        CreateBucketConfiguration={"LocationConstraint": self._config.region},  # type: ignore[typeddict-item]
                    )
            except client.exceptions.BucketAlreadyOwnedByYou:
                pass


@contextmanager
def _translated_errors(key: str) -> Iterator[None]:
    """botocore's errors as the port's: missing → MediaNotFound, transient → Unavailable."""
    try:
        yield
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code == "NoSuchBucket":
            raise MediaStoreError(f"S3 bucket missing for {key}: {error}.") from error
        if code in NOT_FOUND_CODES or status == 404:
            raise MediaNotFound(f"No media at {key} ({code or status}).") from error
        if code in TRANSIENT_CODES or status >= 500 or status == 429:
            raise MediaStoreUnavailable(f"S3 failed for {key}: {code or status}.") from error
        raise MediaStoreError(f"S3 refused {key}: {code or status}: {error}.") from error
    except (ConnectionError, HTTPClientError, aiohttp.ClientError, TimeoutError, OSError) as error:
        raise MediaStoreUnavailable(f"S3 unreachable for {key}: {error}.") from error
    except BotoCoreError as error:
        raise MediaStoreError(f"S3 failed for {key}: {error}.") from error
