"""The S3 adapter against real HTTP servers: moto's S3, one that is gone, one that is failing."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import AsyncIterator, Callable

import pytest
from aiobotocore.session import get_session
from aiohttp import web
from moto.server import ThreadedMotoServer

from threadline.media import (
    MediaNotFound,
    MediaStoreError,
    MediaStoreUnavailable,
    S3Config,
    S3MediaStore,
)

S3ConfigFactory = Callable[..., S3Config]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_the_object_carries_its_content_type_and_hash(s3_config: S3ConfigFactory) -> None:
    config = s3_config(key_prefix="/threadline/media/")
    async with S3MediaStore(config) as store:
        stored = await store.put(b"OggS voice", content_type="audio/ogg", file_name="v.ogg")
    digest = hashlib.sha256(b"OggS voice").hexdigest()
    key = f"threadline/media/{digest[:2]}/{digest}"
    assert stored.location == f"s3://{config.bucket}/{key}"
    async with get_session().create_client(
        "s3",
        endpoint_url=config.endpoint_url,
        region_name=config.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ) as client:
        head = await client.head_object(Bucket=config.bucket, Key=key)
    assert head["ContentType"] == "audio/ogg"
    assert head["ContentLength"] == len(b"OggS voice")
    assert head["Metadata"] == {"sha256": digest}


async def test_the_bucket_is_created_in_us_east_1_too(s3_config: S3ConfigFactory) -> None:
    async with S3MediaStore(s3_config(region="us-east-1")) as store:
        stored = await store.put(b"x", content_type="text/plain")
        assert await store.get(stored.location) == b"x"


async def test_a_missing_bucket_not_to_be_created_is_an_error_not_an_outage(
    s3_config: S3ConfigFactory,
) -> None:
    async with S3MediaStore(s3_config(create_bucket=False)) as store:
        with pytest.raises(MediaStoreError) as raised:
            await store.put(b"x", content_type="text/plain")
    assert not isinstance(raised.value, MediaStoreUnavailable | MediaNotFound)
    assert "NoSuchBucket" in str(raised.value)


async def test_building_the_store_connects_nothing() -> None:
    store = S3MediaStore(S3Config(bucket="b", endpoint_url=f"http://127.0.0.1:{free_port()}"))
    await store.close()


async def test_a_server_that_is_not_there_is_unavailable() -> None:
    config = S3Config(
        bucket="media",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        access_key_id="testing",
        secret_access_key="testing",
        connect_timeout=1.0,
        read_timeout=1.0,
        max_attempts=1,
    )
    async with S3MediaStore(config) as store:
        with pytest.raises(MediaStoreUnavailable):
            await store.put(b"x", content_type="text/plain")
        with pytest.raises(MediaStoreUnavailable):
            await store.exists(hashlib.sha256(b"x").hexdigest())
        with pytest.raises(MediaStoreUnavailable):
            await store.get(store.location_of(hashlib.sha256(b"x").hexdigest()))


async def test_a_server_that_goes_away_is_unavailable_and_back_is_served_again(
    s3_config: S3ConfigFactory,
) -> None:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    config = s3_config(endpoint_url=f"http://127.0.0.1:{port}")
    async with S3MediaStore(config) as store:
        stored = await store.put(b"kept before the outage", content_type="text/plain")
        server.stop()
        with pytest.raises(MediaStoreUnavailable):
            await store.get(stored.location)
        with pytest.raises(MediaStoreUnavailable):
            await store.put(b"during the outage", content_type="text/plain")
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            # moto keeps its state in the process, so the object outlived the restart.
            assert await store.get(stored.location) == b"kept before the outage"
        finally:
            server.stop()


S3_ERROR = """<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>{code}</Code><Message>{message}</Message><RequestId>r1</RequestId></Error>"""


@pytest.fixture
async def failing_s3() -> AsyncIterator[Callable[[int, str], str]]:
    """An HTTP server answering every request with the S3 error it is told to."""
    answer: dict[str, str] = {"status": "503", "code": "SlowDown"}
    requests: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        requests.append(f"{request.method} {request.path}")
        body = (
            "" if request.method == "HEAD" else S3_ERROR.format(code=answer["code"], message="no")
        )
        return web.Response(status=int(answer["status"]), text=body, content_type="application/xml")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]

    def serve(status: int, code: str) -> str:
        answer.update(status=str(status), code=code)
        return f"http://127.0.0.1:{port}"

    try:
        yield serve
    finally:
        await runner.cleanup()
    assert requests, "the store never reached the failing server"


@pytest.mark.parametrize(("status", "code"), [(503, "SlowDown"), (500, "InternalError")])
async def test_a_server_error_is_unavailable(
    failing_s3: Callable[[int, str], str], status: int, code: str
) -> None:
    config = S3Config(
        bucket="media",
        endpoint_url=failing_s3(status, code),
        access_key_id="testing",
        secret_access_key="testing",
        max_attempts=1,
    )
    async with S3MediaStore(config) as store:
        location = store.location_of(hashlib.sha256(b"x").hexdigest())
        with pytest.raises(MediaStoreUnavailable, match=code):
            await store.get(location)


async def test_access_denied_is_an_error_not_an_outage(
    failing_s3: Callable[[int, str], str],
) -> None:
    config = S3Config(
        bucket="media",
        endpoint_url=failing_s3(403, "AccessDenied"),
        access_key_id="testing",
        secret_access_key="wrong",
        max_attempts=1,
    )
    async with S3MediaStore(config) as store:
        with pytest.raises(MediaStoreError, match="AccessDenied") as raised:
            await store.get(store.location_of(hashlib.sha256(b"x").hexdigest()))
    assert not isinstance(raised.value, MediaStoreUnavailable | MediaNotFound)
