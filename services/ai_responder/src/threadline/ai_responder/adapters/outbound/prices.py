"""What a model's tokens cost, in US dollars: the maintained `genai-prices` package, and rates
an operator configures for the models it does not know (or prices differently).

`genai-prices` ships its price data in the wheel; it fetches newer data only when its
`UpdatePrices` is started, which nothing here does: pricing never touches the network, and the
prices are those of the locked package version (upgrading the package updates them).

Configured rates (`THREADLINE_AI_PRICES_FILE`, read with `rates_from_file`) are a JSON object
of `provider:model` → `{"input_per_million": …, "output_per_million": …,
"cached_input_per_million": …}` (the last optional: the input rate when left out). They win over
the package, so a local model (`openai:llama3.2` on Ollama) or a negotiated price can be set.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import genai_prices
from genai_prices import data_snapshot

from threadline.ai_responder.application.ports import Usage
from threadline.servicekit.config import ConfigError

log = logging.getLogger(__name__)

MILLION = Decimal(1_000_000)
# `offline:` models answer with fixed text on this machine: they cost nothing.
FREE_PROVIDERS = frozenset({"offline"})
SETTING = "THREADLINE_AI_PRICES_FILE"


@dataclass(frozen=True, slots=True)
class Rates:
    """A model's price per million tokens; cached input tokens at their own rate (the input
    rate when None)."""

    input_per_million: Decimal
    output_per_million: Decimal
    cached_input_per_million: Decimal | None = None

    def price(self, usage: Usage) -> Decimal:
        cached = min(usage.cached_tokens, usage.input_tokens)
        cached_rate = (
            self.input_per_million
            if self.cached_input_per_million is None
            else self.cached_input_per_million
        )
        return (
            self.input_per_million * (usage.input_tokens - cached)
            + cached_rate * cached
            + self.output_per_million * usage.output_tokens
        ) / MILLION


class GenaiPrices:
    """`PriceTable` over `genai-prices`' bundled data, `rates` first. A model neither knows is
    not priced (None), and said once per model in the log, not once per reply."""

    def __init__(self, rates: Mapping[str, Rates] | None = None) -> None:
        self._rates = dict(rates or {})
        self._unknown: set[str] = set()
        # Load the bundled data now (about 0.2 s), not while the first customer waits.
        data_snapshot.get_snapshot()

    def price(self, model: str, usage: Usage) -> Decimal | None:
        rates = self._rates.get(model)
        if rates is not None:
            return rates.price(usage)
        provider, _, name = model.partition(":")
        if provider in FREE_PROVIDERS:
            return Decimal(0)
        try:
            calculation = genai_prices.calc_price(
                genai_prices.Usage(
                    # genai-prices wants the whole input and, of it, what was read from the cache.
                    input_tokens=usage.input_tokens,
                    cache_read_tokens=min(usage.cached_tokens, usage.input_tokens),
                    output_tokens=usage.output_tokens,
                ),
                name,
                provider_id=provider,
            )
        except LookupError:
            if model not in self._unknown:
                self._unknown.add(model)
                log.warning(
                    "no price for model %r: its replies are recorded without a cost "
                    "(set %s to price it)",
                    model,
                    SETTING,
                )
            return None
        return calculation.total_price


def rates_from_file(path: str | Path) -> dict[str, Rates]:
    """The rates a JSON file configures (see the module's docstring); raises ConfigError."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"Config {SETTING!r}: cannot read {str(path)!r}: {error}") from None
    try:
        return parse_rates(text)
    except ValueError as error:
        raise ConfigError(f"Config {SETTING!r} ({str(path)!r}) is malformed: {error}") from None


def parse_rates(text: str) -> dict[str, Rates]:
    """Rates from JSON text; raises ValueError naming what is wrong."""
    try:
        raw = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    except ValueError as error:
        raise ValueError(f"not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise ValueError("must be a JSON object of provider:model → rates")
    return {_model(model): _rates(model, entry) for model, entry in raw.items()}


_REQUIRED = {"input_per_million", "output_per_million"}
_KEYS = _REQUIRED | {"cached_input_per_million"}


def _model(model: str) -> str:
    provider, _, name = model.partition(":")
    if not provider or not name:
        raise ValueError(f"{model!r} must be provider:model (e.g. openai:gpt-4.1-mini)")
    return model


def _rates(model: str, entry: Any) -> Rates:
    if not isinstance(entry, dict) or not set(entry) >= _REQUIRED or not set(entry) <= _KEYS:
        raise ValueError(
            f"{model!r} must be {{'input_per_million': <number>, 'output_per_million': <number>"
            "[, 'cached_input_per_million': <number>]}"
        )
    cached = entry.get("cached_input_per_million")
    return Rates(
        input_per_million=_amount(entry["input_per_million"], model),
        output_per_million=_amount(entry["output_per_million"], model),
        cached_input_per_million=None if cached is None else _amount(cached, model),
    )


def _amount(value: Any, model: str) -> Decimal:
    try:
        amount = Decimal(value) if isinstance(value, Decimal | str) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount < 0:
        raise ValueError(f"{model!r}: a rate must be a number of 0 or more, got {value!r}")
    return amount
