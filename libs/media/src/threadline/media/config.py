"""Choosing the media store from the environment.

`THREADLINE_MEDIA_STORE` is `fs` (the default: files under `THREADLINE_MEDIA_ROOT`, else the
caller's default such as `.threadline/media`) or `s3` (a bucket, configured by the
`THREADLINE_MEDIA_S3_*` variables). Nothing connects here: the S3 client opens on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from threadline.media.filesystem import FilesystemMediaStore
from threadline.media.s3 import S3Config, S3MediaStore
from threadline.media.store import MediaStore
from threadline.servicekit.config import ConfigError, env_bool, env_float, env_int, env_str

KINDS = ("fs", "s3")
ADDRESSING_STYLES = ("path", "virtual", "auto")


def media_store_from_env(env: Mapping[str, str], default_root: Path) -> MediaStore:
    kind = env_str(env, "THREADLINE_MEDIA_STORE", "fs").strip().lower()
    if kind == "fs":
        return FilesystemMediaStore(Path(env_str(env, "THREADLINE_MEDIA_ROOT", str(default_root))))
    if kind == "s3":
        return S3MediaStore(s3_config_from_env(env))
    raise ConfigError(
        f"Config 'THREADLINE_MEDIA_STORE' must be one of {', '.join(KINDS)}, got {kind!r}."
    )


def s3_config_from_env(env: Mapping[str, str]) -> S3Config:
    access_key_id = env.get("THREADLINE_MEDIA_S3_ACCESS_KEY_ID") or None
    secret_access_key = env.get("THREADLINE_MEDIA_S3_SECRET_ACCESS_KEY") or None
    if (access_key_id is None) != (secret_access_key is None):
        missing = (
            "THREADLINE_MEDIA_S3_SECRET_ACCESS_KEY"
            if secret_access_key is None
            else "THREADLINE_MEDIA_S3_ACCESS_KEY_ID"
        )
        raise ConfigError(
            f"Config '{missing}' is missing: the S3 access key id and secret go together."
        )
    endpoint_url = env.get("THREADLINE_MEDIA_S3_ENDPOINT_URL") or None
    if endpoint_url is not None and not endpoint_url.startswith(("http://", "https://")):
        raise ConfigError(
            "Config 'THREADLINE_MEDIA_S3_ENDPOINT_URL' must be an http:// or https:// URL, "
            f"got {endpoint_url!r}."
        )
    addressing_style = env_str(env, "THREADLINE_MEDIA_S3_ADDRESSING_STYLE", "path")
    if addressing_style not in ADDRESSING_STYLES:
        raise ConfigError(
            "Config 'THREADLINE_MEDIA_S3_ADDRESSING_STYLE' must be one of "
            f"{', '.join(ADDRESSING_STYLES)}, got {addressing_style!r}."
        )
    max_attempts = env_int(env, "THREADLINE_MEDIA_S3_MAX_ATTEMPTS", 3)
    if max_attempts < 1:
        raise ConfigError(
            f"Config 'THREADLINE_MEDIA_S3_MAX_ATTEMPTS' must be at least 1, got {max_attempts}."
        )
    return S3Config(
        bucket=env_str(env, "THREADLINE_MEDIA_S3_BUCKET"),
        endpoint_url=endpoint_url,
        region=env_str(env, "THREADLINE_MEDIA_S3_REGION", "us-east-1"),
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        session_token=env.get("THREADLINE_MEDIA_S3_SESSION_TOKEN") or None,
        key_prefix=env_str(env, "THREADLINE_MEDIA_S3_KEY_PREFIX", ""),
        create_bucket=env_bool(env, "THREADLINE_MEDIA_S3_CREATE_BUCKET", False),
        addressing_style=addressing_style,
        connect_timeout=_positive(env, "THREADLINE_MEDIA_S3_CONNECT_TIMEOUT", 5.0),
        read_timeout=_positive(env, "THREADLINE_MEDIA_S3_READ_TIMEOUT", 30.0),
        max_attempts=max_attempts,
    )


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    value = env_float(env, name, default)
    if value <= 0:
        raise ConfigError(f"Config '{name}' must be more than 0, got {value}.")
    return value
