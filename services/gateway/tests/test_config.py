from __future__ import annotations

import pytest

from threadline.gateway.config import GatewayConfig
from threadline.servicekit.config import ConfigError

# What the other services need; the gateway reads none of it.
REQUIRED_SETTINGS = {
    "THREADLINE_DATABASE_URL": "postgresql://db/a",
    "THREADLINE_API_TOKENS": "",
}


def test_the_gateway_port_and_session_address_come_from_the_environment() -> None:
    defaults = GatewayConfig.from_env(REQUIRED_SETTINGS)
    chosen = GatewayConfig.from_env(
        {
            **REQUIRED_SETTINGS,
            "THREADLINE_GATEWAY_PORT": "0",
            "THREADLINE_SESSION_GRPC_ADDRESS": "session:50051",
        }
    )

    assert (defaults.port, defaults.session_grpc_address) == (8081, "127.0.0.1:50051")
    assert (chosen.port, chosen.session_grpc_address) == (0, "session:50051")


def test_a_gateway_port_out_of_range_names_the_variable() -> None:
    env = {**REQUIRED_SETTINGS, "THREADLINE_GATEWAY_PORT": "70000"}

    with pytest.raises(ConfigError, match="THREADLINE_GATEWAY_PORT"):
        GatewayConfig.from_env(env)


def test_defaults_follow_the_blueprint() -> None:
    config = GatewayConfig.from_env({})

    assert (config.host, config.port, config.ops_port) == ("127.0.0.1", 8081, 9106)
    assert config.analytics_grpc_address == "127.0.0.1:50052"
    assert config.knowledge_grpc_address == "127.0.0.1:50053"


def test_the_knowledge_service_is_where_the_cli_finds_it() -> None:
    config = GatewayConfig.from_env({"THREADLINE_AI_GRPC_ADDRESS": "ai_responder:50053"})

    assert config.knowledge_grpc_address == "ai_responder:50053"


def test_where_it_listens_and_where_analytics_is_come_from_the_environment() -> None:
    config = GatewayConfig.from_env(
        {
            "THREADLINE_GATEWAY_HOST": "0.0.0.0",
            "THREADLINE_GATEWAY_OPS_PORT": "9200",
            "THREADLINE_ANALYTICS_GRPC_ADDRESS": "analytics:50052",
        }
    )

    assert (config.host, config.ops_port) == ("0.0.0.0", 9200)
    assert config.analytics_grpc_address == "analytics:50052"


@pytest.mark.parametrize(
    ("name", "value"), [("THREADLINE_GATEWAY_OPS_PORT", "-1"), ("THREADLINE_GATEWAY_PORT", "web")]
)
def test_a_malformed_port_is_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        GatewayConfig.from_env({name: value})


def test_the_media_store_settings_are_read_at_start_and_kept_out_of_logs() -> None:
    config = GatewayConfig.from_env(
        {
            **REQUIRED_SETTINGS,
            "THREADLINE_MEDIA_STORE": "s3",
            "THREADLINE_MEDIA_S3_BUCKET": "media",
            "THREADLINE_MEDIA_S3_SECRET_ACCESS_KEY": "s3cret",
        }
    )

    assert config.media_env == {
        "THREADLINE_MEDIA_STORE": "s3",
        "THREADLINE_MEDIA_S3_BUCKET": "media",
        "THREADLINE_MEDIA_S3_SECRET_ACCESS_KEY": "s3cret",
    }
    assert str(config.media_root) == ".threadline/media"
    assert "s3cret" not in repr(config)
