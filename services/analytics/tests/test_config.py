from __future__ import annotations

from decimal import Decimal

import pytest

from threadline.analytics.config import AnalyticsConfig
from threadline.analytics.domain.write.rates import EXAMPLE_RATES
from threadline.servicekit.auth import hash_token
from threadline.servicekit.config import ConfigError

TOKENS = f"{hash_token('secret')}:read:pn-1"
REQUIRED = {"THREADLINE_DATABASE_URL": "postgresql://db/analytics", "THREADLINE_API_TOKENS": TOKENS}


def test_defaults_follow_the_blueprint() -> None:
    config = AnalyticsConfig.from_env(REQUIRED)

    assert (config.host, config.grpc_port, config.ops_port) == ("127.0.0.1", 50052, 9105)
    assert config.nats_url == "nats://127.0.0.1:4222"
    assert (config.nats_namespace, config.batch_size) == ("", 500)


def test_settings_are_read_from_the_environment() -> None:
    config = AnalyticsConfig.from_env(
        {
            **REQUIRED,
            "THREADLINE_NATS_URL": "nats://nats:4222",
            "THREADLINE_NATS_NAMESPACE": "staging",
            "THREADLINE_ANALYTICS_HOST": "0.0.0.0",
            "THREADLINE_ANALYTICS_GRPC_PORT": "6000",
            "THREADLINE_ANALYTICS_OPS_PORT": "6001",
            "THREADLINE_ANALYTICS_BATCH_SIZE": "50",
        }
    )

    assert (config.nats_url, config.nats_namespace) == ("nats://nats:4222", "staging")
    assert (config.host, config.grpc_port, config.ops_port) == ("0.0.0.0", 6000, 6001)
    assert config.batch_size == 50
    assert config.tokens.authenticate("Bearer secret").numbers == frozenset({"pn-1"})


@pytest.mark.parametrize("missing", ["THREADLINE_DATABASE_URL", "THREADLINE_API_TOKENS"])
def test_a_missing_required_setting_is_named(missing: str) -> None:
    env = {name: value for name, value in REQUIRED.items() if name != missing}

    with pytest.raises(ConfigError, match=missing):
        AnalyticsConfig.from_env(env)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("THREADLINE_ANALYTICS_GRPC_PORT", "http"),
        ("THREADLINE_ANALYTICS_OPS_PORT", "70000"),
        ("THREADLINE_ANALYTICS_BATCH_SIZE", "0"),
        ("THREADLINE_API_TOKENS", "not-a-hash:read:*"),
    ],
)
def test_a_malformed_setting_is_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        AnalyticsConfig.from_env({**REQUIRED, name: value})


def test_costs_use_the_example_rates_unless_configured() -> None:
    assert AnalyticsConfig.from_env(REQUIRED).rates == EXAMPLE_RATES


def test_rates_are_read_from_json() -> None:
    config = AnalyticsConfig.from_env(
        {**REQUIRED, "THREADLINE_ANALYTICS_RATES": '{"whatsapp": {"marketing": 0.09}}'}
    )

    assert config.rates.whatsapp_cost("marketing") == Decimal("0.09")


def test_malformed_rates_are_refused_naming_the_variable() -> None:
    env = {**REQUIRED, "THREADLINE_ANALYTICS_RATES": '{"whatsapp": {"x": -2}}'}

    with pytest.raises(ConfigError, match=r"THREADLINE_ANALYTICS_RATES.*0 or more"):
        AnalyticsConfig.from_env(env)
