from __future__ import annotations

import pytest

from threadline.sandbox.config import SandboxConfig
from threadline.servicekit.config import ConfigError

REQUIRED = {
    "THREADLINE_WHATSAPP_APP_SECRET": "secret",
    "THREADLINE_WHATSAPP_ACCESS_TOKEN": "token",
}


def test_defaults_apply_when_only_the_secrets_are_set() -> None:
    config = SandboxConfig.from_env(REQUIRED)

    assert (config.host, config.port, config.status_delay_ms) == ("127.0.0.1", 8090, 50)
    assert config.webhook_url == "http://127.0.0.1:8080/webhooks/whatsapp"
    assert config.outbox_limit == 10_000


def test_outbox_limit_is_read_from_the_environment() -> None:
    env = {**REQUIRED, "THREADLINE_SANDBOX_OUTBOX_LIMIT": "50"}

    assert SandboxConfig.from_env(env).outbox_limit == 50


def test_missing_app_secret_fails_naming_the_variable() -> None:
    env = {"THREADLINE_WHATSAPP_ACCESS_TOKEN": "token"}

    with pytest.raises(ConfigError, match="'THREADLINE_WHATSAPP_APP_SECRET' is missing"):
        SandboxConfig.from_env(env)


def test_missing_access_token_fails_naming_the_variable() -> None:
    env = {"THREADLINE_WHATSAPP_APP_SECRET": "secret"}

    with pytest.raises(ConfigError, match="'THREADLINE_WHATSAPP_ACCESS_TOKEN' is missing"):
        SandboxConfig.from_env(env)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("THREADLINE_SANDBOX_PORT", "eighty"),
        ("THREADLINE_SANDBOX_PORT", "70000"),
        ("THREADLINE_SANDBOX_STATUS_DELAY_MS", "-1"),
        ("THREADLINE_SANDBOX_STATUS_DELAY_MS", "1.5"),
        ("THREADLINE_SANDBOX_OUTBOX_LIMIT", "0"),
        ("THREADLINE_SANDBOX_OUTBOX_LIMIT", "many"),
    ],
)
def test_malformed_number_fails_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"'{name}'"):
        SandboxConfig.from_env({**REQUIRED, name: value})


def test_display_numbers_map_phone_number_ids_to_display_numbers() -> None:
    env = {**REQUIRED, "THREADLINE_SANDBOX_DISPLAY_NUMBERS": "111=+15550001111, 222=15550002222"}

    config = SandboxConfig.from_env(env)

    assert config.business_number("111").display_phone_number == "15550001111"
    assert config.business_number("222").display_phone_number == "15550002222"


def test_malformed_display_numbers_fail_naming_the_variable() -> None:
    env = {**REQUIRED, "THREADLINE_SANDBOX_DISPLAY_NUMBERS": "111:15550001111"}

    with pytest.raises(ConfigError, match="'THREADLINE_SANDBOX_DISPLAY_NUMBERS'"):
        SandboxConfig.from_env(env)


def test_media_and_throughput_settings_default_to_metas_and_off() -> None:
    config = SandboxConfig.from_env(REQUIRED)

    assert (config.media_url_ttl_s, config.uploaded_media_ttl_s, config.received_media_ttl_s) == (
        300.0,
        30 * 24 * 3600.0,
        7 * 24 * 3600.0,
    )
    assert (config.throughput_per_second, config.pair_limit) == (0, 0)


def test_media_and_throughput_settings_are_read_from_the_environment() -> None:
    env = {
        **REQUIRED,
        "THREADLINE_SANDBOX_MEDIA_URL_TTL_S": "1",
        "THREADLINE_SANDBOX_RECEIVED_MEDIA_TTL_S": "2.5",
        "THREADLINE_SANDBOX_MEDIA_LIMIT": "3",
        "THREADLINE_SANDBOX_MEDIA_BYTES_LIMIT": "4096",
        "THREADLINE_SANDBOX_THROUGHPUT_PER_SECOND": "80",
        "THREADLINE_SANDBOX_PAIR_LIMIT": "1",
        "THREADLINE_SANDBOX_PAIR_WINDOW_S": "6",
    }

    config = SandboxConfig.from_env(env)

    assert (config.media_url_ttl_s, config.received_media_ttl_s) == (1.0, 2.5)
    assert (config.media_limit, config.media_bytes_limit) == (3, 4096)
    assert (config.throughput_per_second, config.pair_limit, config.pair_window_s) == (80, 1, 6.0)


def test_a_download_url_that_never_lives_is_refused() -> None:
    env = {**REQUIRED, "THREADLINE_SANDBOX_MEDIA_URL_TTL_S": "0"}

    with pytest.raises(ConfigError, match="'THREADLINE_SANDBOX_MEDIA_URL_TTL_S' must be more"):
        SandboxConfig.from_env(env)
