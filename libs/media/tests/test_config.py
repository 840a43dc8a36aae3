"""Choosing and configuring the media store from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from threadline.media import FilesystemMediaStore, S3Config, S3MediaStore, media_store_from_env
from threadline.servicekit.config import ConfigError

DEFAULT_ROOT = Path(".threadline/media")


def test_the_default_is_files_under_the_given_root() -> None:
    store = media_store_from_env({}, DEFAULT_ROOT)
    assert isinstance(store, FilesystemMediaStore)
    assert store.root == DEFAULT_ROOT.resolve()


def test_the_root_can_be_set(tmp_path: Path) -> None:
    env = {"THREADLINE_MEDIA_STORE": "FS", "THREADLINE_MEDIA_ROOT": str(tmp_path / "m")}
    store = media_store_from_env(env, DEFAULT_ROOT)
    assert isinstance(store, FilesystemMediaStore)
    assert store.root == tmp_path / "m"


def test_s3_takes_every_setting_from_its_variables() -> None:
    env = {
        "THREADLINE_MEDIA_STORE": "s3",
        "THREADLINE_MEDIA_S3_BUCKET": "threadline-media",
        "THREADLINE_MEDIA_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        "THREADLINE_MEDIA_S3_REGION": "eu-central-1",
        "THREADLINE_MEDIA_S3_ACCESS_KEY_ID": "key",
        "THREADLINE_MEDIA_S3_SECRET_ACCESS_KEY": "secret",
        "THREADLINE_MEDIA_S3_SESSION_TOKEN": "token",
        "THREADLINE_MEDIA_S3_KEY_PREFIX": "media/",
        "THREADLINE_MEDIA_S3_CREATE_BUCKET": "true",
        "THREADLINE_MEDIA_S3_ADDRESSING_STYLE": "virtual",
        "THREADLINE_MEDIA_S3_CONNECT_TIMEOUT": "2.5",
        "THREADLINE_MEDIA_S3_READ_TIMEOUT": "10",
        "THREADLINE_MEDIA_S3_MAX_ATTEMPTS": "5",
    }
    store = media_store_from_env(env, DEFAULT_ROOT)
    assert isinstance(store, S3MediaStore)
    assert store.config == S3Config(
        bucket="threadline-media",
        endpoint_url="http://127.0.0.1:9000",
        region="eu-central-1",
        access_key_id="key",
        secret_access_key="secret",
        session_token="token",
        key_prefix="media/",
        create_bucket=True,
        addressing_style="virtual",
        connect_timeout=2.5,
        read_timeout=10.0,
        max_attempts=5,
    )
    assert store.location_of("ab" * 32) == f"s3://threadline-media/media/ab/{'ab' * 32}"


def test_s3_defaults_leave_credentials_to_botocore() -> None:
    env = {"THREADLINE_MEDIA_STORE": "s3", "THREADLINE_MEDIA_S3_BUCKET": "b"}
    store = media_store_from_env(env, DEFAULT_ROOT)
    assert isinstance(store, S3MediaStore)
    assert store.config == S3Config(bucket="b")


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"THREADLINE_MEDIA_STORE": "gcs"}, "THREADLINE_MEDIA_STORE"),
        ({"THREADLINE_MEDIA_STORE": "s3"}, "THREADLINE_MEDIA_S3_BUCKET"),
        (
            {"THREADLINE_MEDIA_S3_ACCESS_KEY_ID": "key"},
            "THREADLINE_MEDIA_S3_SECRET_ACCESS_KEY",
        ),
        (
            {"THREADLINE_MEDIA_S3_SECRET_ACCESS_KEY": "secret"},
            "THREADLINE_MEDIA_S3_ACCESS_KEY_ID",
        ),
        (
            {"THREADLINE_MEDIA_S3_ENDPOINT_URL": "127.0.0.1:9000"},
            "THREADLINE_MEDIA_S3_ENDPOINT_URL",
        ),
        ({"THREADLINE_MEDIA_S3_CREATE_BUCKET": "maybe"}, "THREADLINE_MEDIA_S3_CREATE_BUCKET"),
        ({"THREADLINE_MEDIA_S3_ADDRESSING_STYLE": "dns"}, "THREADLINE_MEDIA_S3_ADDRESSING_STYLE"),
        ({"THREADLINE_MEDIA_S3_CONNECT_TIMEOUT": "0"}, "THREADLINE_MEDIA_S3_CONNECT_TIMEOUT"),
        ({"THREADLINE_MEDIA_S3_READ_TIMEOUT": "soon"}, "THREADLINE_MEDIA_S3_READ_TIMEOUT"),
        ({"THREADLINE_MEDIA_S3_MAX_ATTEMPTS": "0"}, "THREADLINE_MEDIA_S3_MAX_ATTEMPTS"),
    ],
)
def test_a_bad_value_names_its_variable(env: dict[str, str], variable: str) -> None:
    full = {"THREADLINE_MEDIA_STORE": "s3", "THREADLINE_MEDIA_S3_BUCKET": "b", **env}
    if variable == "THREADLINE_MEDIA_S3_BUCKET":
        del full["THREADLINE_MEDIA_S3_BUCKET"]
    with pytest.raises(ConfigError, match=f"'{variable}'"):
        media_store_from_env(full, DEFAULT_ROOT)


async def test_an_s3_store_from_the_environment_works(s3_endpoint: str) -> None:
    env = {
        "THREADLINE_MEDIA_STORE": "s3",
        "THREADLINE_MEDIA_S3_BUCKET": "from-env",
        "THREADLINE_MEDIA_S3_ENDPOINT_URL": s3_endpoint,
        "THREADLINE_MEDIA_S3_ACCESS_KEY_ID": "testing",
        "THREADLINE_MEDIA_S3_SECRET_ACCESS_KEY": "testing",
        "THREADLINE_MEDIA_S3_CREATE_BUCKET": "yes",
    }
    async with media_store_from_env(env, DEFAULT_ROOT) as store:
        stored = await store.put(b"from the environment", content_type="text/plain")
        assert stored.location.startswith("s3://from-env/")
        assert await store.get(stored.location) == b"from the environment"
