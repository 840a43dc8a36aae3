import pytest

from threadline.outbound.config import OutboundConfig
from threadline.servicekit.config import ConfigError


def test_defaults_need_only_the_access_token() -> None:
    config = OutboundConfig.from_env({"THREADLINE_WHATSAPP_ACCESS_TOKEN": "secret"})

    assert config.graph_api_base_url == "http://127.0.0.1:8090"
    assert config.graph_api_version == "v23.0"
    assert config.ops_port == 9104
    assert config.concurrency == 32
    assert config.nats_url == "nats://127.0.0.1:4222"
    assert config.nats_namespace == ""
    assert config.host == "127.0.0.1"


def test_ops_host_is_read_like_the_other_services() -> None:
    env = {"THREADLINE_WHATSAPP_ACCESS_TOKEN": "s", "THREADLINE_OUTBOUND_HOST": "0.0.0.0"}

    assert OutboundConfig.from_env(env).host == "0.0.0.0"


def test_missing_access_token_is_named() -> None:
    with pytest.raises(ConfigError, match="THREADLINE_WHATSAPP_ACCESS_TOKEN"):
        OutboundConfig.from_env({})


def test_zero_concurrency_is_refused() -> None:
    env = {"THREADLINE_WHATSAPP_ACCESS_TOKEN": "s", "THREADLINE_OUTBOUND_CONCURRENCY": "0"}

    with pytest.raises(ConfigError, match="THREADLINE_OUTBOUND_CONCURRENCY"):
        OutboundConfig.from_env(env)


def test_customers_files_fetched_at_once_are_read_and_bounded() -> None:
    env = {"THREADLINE_WHATSAPP_ACCESS_TOKEN": "s"}
    assert OutboundConfig.from_env(env).media_concurrency == 4
    more = env | {"THREADLINE_OUTBOUND_MEDIA_CONCURRENCY": "16"}
    assert OutboundConfig.from_env(more).media_concurrency == 16

    with pytest.raises(ConfigError, match="THREADLINE_OUTBOUND_MEDIA_CONCURRENCY"):
        OutboundConfig.from_env(env | {"THREADLINE_OUTBOUND_MEDIA_CONCURRENCY": "0"})


def test_base_url_must_be_http() -> None:
    env = {"THREADLINE_WHATSAPP_ACCESS_TOKEN": "s", "THREADLINE_GRAPH_API_BASE_URL": "graph"}

    with pytest.raises(ConfigError, match="THREADLINE_GRAPH_API_BASE_URL"):
        OutboundConfig.from_env(env)


def test_access_token_is_kept_out_of_the_repr() -> None:
    config = OutboundConfig.from_env({"THREADLINE_WHATSAPP_ACCESS_TOKEN": "EAAG-secret"})

    assert "EAAG-secret" not in repr(config)


def test_pacing_defaults_to_metas_80_messages_a_second_and_no_recipient_spacing() -> None:
    pacing = OutboundConfig.from_env({"THREADLINE_WHATSAPP_ACCESS_TOKEN": "s"}).pacing

    assert (pacing.rate, pacing.burst, pacing.recipient_interval) == (80, 10, 0.0)


def test_pacing_is_read_from_the_environment() -> None:
    env = {
        "THREADLINE_WHATSAPP_ACCESS_TOKEN": "s",
        "THREADLINE_OUTBOUND_NUMBER_RATE": "1000",
        "THREADLINE_OUTBOUND_NUMBER_BURST": "50",
        "THREADLINE_OUTBOUND_RECIPIENT_INTERVAL_MS": "250",
    }

    pacing = OutboundConfig.from_env(env).pacing

    assert (pacing.rate, pacing.burst, pacing.recipient_interval) == (1000, 50, 0.25)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("THREADLINE_OUTBOUND_NUMBER_RATE", "1001"),
        ("THREADLINE_OUTBOUND_NUMBER_RATE", "0"),
        ("THREADLINE_OUTBOUND_NUMBER_BURST", "81"),
        ("THREADLINE_OUTBOUND_RECIPIENT_INTERVAL_MS", "-1"),
    ],
)
def test_pacing_beyond_metas_limits_is_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        OutboundConfig.from_env({"THREADLINE_WHATSAPP_ACCESS_TOKEN": "s", name: value})


def test_media_limit_and_store_variables_are_read() -> None:
    env = {
        "THREADLINE_WHATSAPP_ACCESS_TOKEN": "s",
        "THREADLINE_MEDIA_MAX_BYTES": "1048576",
        "THREADLINE_MEDIA_ROOT": "/var/lib/threadline/media",
        "THREADLINE_SANDBOX_PORT": "8090",
    }

    config = OutboundConfig.from_env(env)

    assert config.media_max_bytes == 1048576
    assert config.media_env["THREADLINE_MEDIA_ROOT"] == "/var/lib/threadline/media"
    assert "THREADLINE_SANDBOX_PORT" not in config.media_env


def test_media_limit_defaults_to_whatsapps_largest_file() -> None:
    config = OutboundConfig.from_env({"THREADLINE_WHATSAPP_ACCESS_TOKEN": "s"})

    assert config.media_max_bytes == 100 * 1024 * 1024
    assert str(config.media_root) == ".threadline/media"


def test_a_media_limit_below_one_byte_is_refused() -> None:
    env = {"THREADLINE_WHATSAPP_ACCESS_TOKEN": "s", "THREADLINE_MEDIA_MAX_BYTES": "0"}

    with pytest.raises(ConfigError, match="THREADLINE_MEDIA_MAX_BYTES"):
        OutboundConfig.from_env(env)
