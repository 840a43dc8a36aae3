"""Reading ingest's settings from the environment."""

from __future__ import annotations

import pytest

from threadline.ingest.config import IngestConfig
from threadline.servicekit.config import ConfigError

REQUIRED = {"THREADLINE_WHATSAPP_APP_SECRET": "s3cret", "THREADLINE_WHATSAPP_VERIFY_TOKEN": "tok"}


def test_defaults_follow_the_blueprint() -> None:
    config = IngestConfig.from_env(REQUIRED)

    assert config == IngestConfig(
        app_secret="s3cret",
        verify_token="tok",
        nats_url="nats://127.0.0.1:4222",
        nats_namespace="",
        host="127.0.0.1",
        port=8080,
        ops_port=9101,
        max_body_bytes=1_048_576,
    )


def test_every_setting_is_read_from_its_variable() -> None:
    env = {
        **REQUIRED,
        "THREADLINE_NATS_URL": "nats://nats:4222",
        "THREADLINE_NATS_NAMESPACE": "t1",
        "THREADLINE_INGEST_HOST": "0.0.0.0",
        "THREADLINE_INGEST_PORT": "18080",
        "THREADLINE_INGEST_OPS_PORT": "19101",
        "THREADLINE_INGEST_MAX_BODY_BYTES": "2048",
    }

    config = IngestConfig.from_env(env)

    assert (config.nats_url, config.nats_namespace, config.host) == (
        "nats://nats:4222",
        "t1",
        "0.0.0.0",
    )
    assert (config.port, config.ops_port, config.max_body_bytes) == (18080, 19101, 2048)


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_missing_secret_is_named(missing: str) -> None:
    env = {k: v for k, v in REQUIRED.items() if k != missing}

    with pytest.raises(ConfigError, match=missing):
        IngestConfig.from_env(env)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("THREADLINE_INGEST_PORT", "http"),
        ("THREADLINE_INGEST_PORT", "70000"),
        ("THREADLINE_INGEST_OPS_PORT", "-1"),
        ("THREADLINE_INGEST_MAX_BODY_BYTES", "0"),
    ],
)
def test_malformed_number_is_named(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        IngestConfig.from_env({**REQUIRED, variable: value})
