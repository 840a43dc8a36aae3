"""What a conversation costs: language-model tokens and WhatsApp per-message pricing.

The rates are configuration (`THREADLINE_ANALYTICS_RATES`, JSON). What is not configured falls
back to `EXAMPLE_RATES`: made-up example figures so a fresh platform shows non-zero costs, not
any vendor's price list. Amounts are `Decimal`s in the rates' currency.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

DEFAULT = "default"
THOUSAND = Decimal(1000)
USD = "USD"


@dataclass(frozen=True, slots=True)
class TokenPrice:
    """A language model's price per 1,000 prompt and per 1,000 completion tokens."""

    prompt_per_1k: Decimal
    completion_per_1k: Decimal

    def cost(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        return (
            self.prompt_per_1k * prompt_tokens + self.completion_per_1k * completion_tokens
        ) / THOUSAND


@dataclass(frozen=True, slots=True)
class Rates:
    """Token prices by model and WhatsApp prices by pricing category, each with a default."""

    currency: str = "USD"
    language_models: Mapping[str, TokenPrice] = field(default_factory=dict)
    whatsapp: Mapping[str, Decimal] = field(default_factory=dict)

    def language_model_cost(
        self, model: str, prompt_tokens: int, completion_tokens: int, *, reported: str = ""
    ) -> Decimal:
        """What drafting one reply with `model` cost. The price the AI responder `reported`
        (US dollars from its price table, cached tokens at their own rate) when these rates
        are in US dollars and it is an amount; else the tokens at the model's rate here, the
        default price for unknown models."""
        if reported and self.currency.upper() == USD:
            amount = reported_amount(reported)
            if amount is not None:
                return amount
        if not prompt_tokens and not completion_tokens:
            return Decimal(0)
        price = self.language_models.get(model) or self.language_models.get(DEFAULT)
        return price.cost(prompt_tokens, completion_tokens) if price else Decimal(0)

    def whatsapp_cost(self, category: str) -> Decimal:
        """What one billable message of this pricing category (any case) costs."""
        key = category.strip().lower()
        found = self.whatsapp.get(key)
        return found if found is not None else self.whatsapp.get(DEFAULT, Decimal(0))

    @classmethod
    def parse(cls, text: str, *, defaults: Rates | None = None) -> Rates:
        """Rates from JSON; keys left out keep `defaults`' values. Raises ValueError."""
        base = EXAMPLE_RATES if defaults is None else defaults
        try:
            raw = json.loads(text, parse_float=Decimal, parse_int=Decimal)
        except ValueError as error:
            raise ValueError(f"not JSON: {error}") from None
        if not isinstance(raw, dict):
            raise ValueError("must be a JSON object")
        unknown = set(raw) - {"currency", "language_models", "whatsapp"}
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}")
        currency = raw.get("currency", base.currency)
        if not isinstance(currency, str) or not currency.strip():
            raise ValueError("currency must be a non-empty string")
        models = {**base.language_models, **_token_prices(raw.get("language_models", {}))}
        whatsapp = {**base.whatsapp, **_message_prices(raw.get("whatsapp", {}))}
        return cls(currency=currency.strip(), language_models=models, whatsapp=whatsapp)


def reported_amount(text: str) -> Decimal | None:
    """A price as the events carry it (a plain decimal, "" when not priced); None when it is
    no finite amount of 0 or more, or none a `numeric` column holds as it is (below a
    thousand trillion, at most 30 decimal places)."""
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0:
        return None
    exponent = amount.as_tuple().exponent
    if amount and (amount.adjusted() >= 15 or not isinstance(exponent, int) or exponent < -30):
        return None
    return amount


def _token_prices(raw: Any) -> dict[str, TokenPrice]:
    if not isinstance(raw, dict):
        raise ValueError("language_models must be an object of model → prices")
    prices: dict[str, TokenPrice] = {}
    for model, price in raw.items():
        if not isinstance(price, dict) or set(price) != {"prompt_per_1k", "completion_per_1k"}:
            raise ValueError(
                f"language_models[{model!r}] must be"
                ' {"prompt_per_1k": <number>, "completion_per_1k": <number>}'
            )
        prices[model] = TokenPrice(
            prompt_per_1k=_amount(price["prompt_per_1k"], f"language_models[{model!r}]"),
            completion_per_1k=_amount(price["completion_per_1k"], f"language_models[{model!r}]"),
        )
    return prices


def _message_prices(raw: Any) -> dict[str, Decimal]:
    if not isinstance(raw, dict):
        raise ValueError("whatsapp must be an object of pricing category → price per message")
    return {
        category.strip().lower(): _amount(price, f"whatsapp[{category!r}]")
        for category, price in raw.items()
    }


def _amount(value: Any, where: str) -> Decimal:
    try:
        amount = Decimal(str(value)) if isinstance(value, Decimal | str) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount < 0:
        raise ValueError(f"{where} must be a number of 0 or more, got {value!r}")
    return amount


# Example rates, in US dollars: illustrative figures of the right order of magnitude, not a
# price list. Set THREADLINE_ANALYTICS_RATES to your own.
EXAMPLE_RATES = Rates(
    currency="USD",
    language_models={
        DEFAULT: TokenPrice(prompt_per_1k=Decimal("0.00015"), completion_per_1k=Decimal("0.0006"))
    },
    whatsapp={
        DEFAULT: Decimal(0),
        "marketing": Decimal("0.025"),
        "utility": Decimal("0.004"),
        "authentication": Decimal("0.004"),
        "authentication_international": Decimal("0.03"),
        "service": Decimal(0),
        "referral_conversion": Decimal(0),
    },
)
