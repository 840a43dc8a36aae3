"""What a reply's tokens cost: genai-prices' bundled data, configured rates, offline models."""

from __future__ import annotations

import logging
import socket
from decimal import Decimal
from pathlib import Path

import genai_prices
import pytest
from genai_prices import data_snapshot

from threadline.ai_responder.adapters.outbound.prices import (
    GenaiPrices,
    Rates,
    parse_rates,
    rates_from_file,
)
from threadline.ai_responder.application.ports import PriceTable, Usage
from threadline.servicekit.config import ConfigError

# 1,000 input tokens of which 400 were read from the provider's cache, 200 output tokens.
USAGE = Usage(input_tokens=1000, output_tokens=200, cached_tokens=400)


@pytest.fixture(scope="module")
def prices() -> GenaiPrices:
    return GenaiPrices()


def test_an_openai_model_at_its_list_price_with_cached_input_cheaper(prices: GenaiPrices) -> None:
    # gpt-4.1-mini: $0.40 per million input tokens, $0.10 cached, $1.60 output.
    # 600 x 0.40 + 400 x 0.10 + 200 x 1.60 = 240 + 40 + 320 = 600 millionths of a dollar.
    assert prices.price("openai:gpt-4.1-mini", USAGE) == Decimal("0.0006")
    assert prices.price("openai:gpt-4.1-mini", Usage(1000, 200)) == Decimal("0.00072")


def test_an_anthropic_model_at_its_list_price_with_cached_input_cheaper(
    prices: GenaiPrices,
) -> None:
    # claude-sonnet-4-5: $3 per million input tokens, $0.30 cache reads, $15 output.
    # 600 x 3 + 400 x 0.30 + 200 x 15 = 1,800 + 120 + 3,000 = 4,920 millionths of a dollar.
    assert prices.price("anthropic:claude-sonnet-4-5", USAGE) == Decimal("0.00492")


def test_a_model_no_price_list_knows_is_not_priced_and_said_once(
    prices: GenaiPrices, caplog: pytest.LogCaptureFixture
) -> None:
    table = GenaiPrices()
    with caplog.at_level(logging.WARNING):
        first = table.price("openai:llama3.2", USAGE)
        second = table.price("openai:llama3.2", USAGE)
        other = table.price("mistery:model-x", USAGE)

    assert (first, second, other) == (None, None, None)
    said = [r.getMessage() for r in caplog.records if "no price for model" in r.getMessage()]
    assert said == [
        "no price for model 'openai:llama3.2': its replies are recorded without a cost "
        "(set THREADLINE_AI_PRICES_FILE to price it)",
        "no price for model 'mistery:model-x': its replies are recorded without a cost "
        "(set THREADLINE_AI_PRICES_FILE to price it)",
    ]


def test_the_offline_model_costs_nothing(prices: GenaiPrices) -> None:
    assert prices.price("offline:threadline-offline-1", USAGE) == Decimal(0)


def test_configured_rates_price_a_local_model_and_override_the_list(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(
        '{"openai:llama3.2": {"input_per_million": 0.2, "output_per_million": 0.4},'
        ' "openai:gpt-4.1-mini": {"input_per_million": "1", "output_per_million": 2,'
        ' "cached_input_per_million": 0.5}}'
    )
    table = GenaiPrices(rates_from_file(path))

    # Without a cached rate, cached tokens cost what input does: 1,000 x 0.2 + 200 x 0.4.
    assert table.price("openai:llama3.2", USAGE) == Decimal("0.00028")
    # 600 x 1 + 400 x 0.5 + 200 x 2 = 1,200 millionths.
    assert table.price("openai:gpt-4.1-mini", USAGE) == Decimal("0.0012")
    # What is not configured still comes from the list.
    assert table.price("anthropic:claude-sonnet-4-5", USAGE) == Decimal("0.00492")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[1, 2]", "must be a JSON object"),
        ("{nope", "not JSON"),
        ('{"gpt-4o": {"input_per_million": 1, "output_per_million": 1}}', "provider:model"),
        ('{"openai:gpt-4o": {"input_per_million": 1}}', "'output_per_million'"),
        (
            '{"openai:gpt-4o": {"input_per_million": 1, "output_per_million": 1, "x": 1}}',
            "'output_per_million'",
        ),
        ('{"openai:gpt-4o": {"input_per_million": -1, "output_per_million": 1}}', "0 or more"),
        ('{"openai:gpt-4o": {"input_per_million": true, "output_per_million": 1}}', "0 or more"),
    ],
)
def test_malformed_rates_are_refused_saying_why(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_rates(text)


def test_a_rates_file_that_is_missing_or_malformed_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"THREADLINE_AI_PRICES_FILE.*cannot read"):
        rates_from_file(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{}{")
    with pytest.raises(ConfigError, match=r"THREADLINE_AI_PRICES_FILE.*malformed"):
        rates_from_file(bad)


def test_pricing_never_reaches_for_the_network(
    prices: GenaiPrices, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bundled data is the one used: nothing here starts genai-prices' updater."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pricing opened a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)

    assert prices.price("openai:gpt-4o-mini", USAGE) is not None
    assert prices.price("openai:no-such-model", USAGE) is None
    assert data_snapshot.get_snapshot().from_auto_update is False
    assert genai_prices.wait_prices_updated_sync(timeout=0) is False  # no updater running


def test_rates_are_exact_decimals() -> None:
    rates = Rates(Decimal("0.15"), Decimal("0.6"), Decimal("0.075"))
    assert rates.price(Usage(1, 1, 1)) == Decimal("0.000000675")
    assert rates.price(Usage(0, 0)) == Decimal(0)


def test_the_adapter_is_a_price_table() -> None:
    table: PriceTable = GenaiPrices()
    assert table.price("offline:x", Usage(5, 5)) == Decimal(0)
