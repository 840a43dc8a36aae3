"""Fixtures: a real S3-compatible HTTP server (moto's) on a free port, and a store of each kind."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from threadline.media import FilesystemMediaStore, MediaStore, S3Config, S3MediaStore


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """One moto server for the session; every test uses its own bucket."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


S3ConfigFactory = Callable[..., S3Config]


@pytest.fixture
def s3_config(s3_endpoint: str) -> S3ConfigFactory:
    def make(**overrides: Any) -> S3Config:
        settings: dict[str, Any] = {
            "bucket": f"media-{uuid.uuid4().hex[:12]}",
            "endpoint_url": s3_endpoint,
            "region": "eu-west-1",
            "access_key_id": "testing",
            "secret_access_key": "testing",
            "create_bucket": True,
            "connect_timeout": 2.0,
            "read_timeout": 5.0,
            "max_attempts": 1,
        }
        settings.update(overrides)
        return S3Config(**settings)

    return make


@pytest.fixture(params=["fs", "s3"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, s3_config: S3ConfigFactory
) -> AsyncIterator[MediaStore]:
    """Each adapter in turn, so the contract tests hold for both."""
    media_store: MediaStore
    if request.param == "fs":
        media_store = FilesystemMediaStore(tmp_path / "media")
    else:
        media_store = S3MediaStore(s3_config())
    async with media_store:
        yield media_store
