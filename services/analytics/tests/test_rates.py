from __future__ import annotations

from decimal import Decimal

import pytest

from threadline.analytics.domain.write.rates import EXAMPLE_RATES, Rates


def test_tokens_are_priced_per_thousand_for_their_model() -> None:
    rates = Rates.parse(
        '{"language_models": {"gpt-x": {"prompt_per_1k": 0.002, "completion_per_1k": 0.008}}}'
    )

    assert rates.language_model_cost("gpt-x", 1500, 250) == Decimal("0.005")


def test_an_unknown_model_is_priced_at_the_default() -> None:
    rates = Rates.parse(
        '{"language_models": {"default": {"prompt_per_1k": 1, "completion_per_1k": 3}}}'
    )

    assert rates.language_model_cost("who-knows", 1000, 1000) == Decimal(4)


def test_a_reply_without_tokens_costs_nothing() -> None:
    assert EXAMPLE_RATES.language_model_cost("any", 0, 0) == Decimal(0)


def test_whatsapp_categories_are_priced_in_any_case_and_unknown_ones_at_the_default() -> None:
    rates = Rates.parse('{"whatsapp": {"MARKETING": "0.07", "default": 0.001}}')

    assert rates.whatsapp_cost("marketing") == Decimal("0.07")
    assert rates.whatsapp_cost("Marketing") == Decimal("0.07")
    assert rates.whatsapp_cost("marketing_lite") == Decimal("0.001")


def test_what_the_configuration_leaves_out_keeps_the_example_rates() -> None:
    rates = Rates.parse('{"currency": "EUR", "whatsapp": {"utility": 0.01}}')

    assert rates.currency == "EUR"
    assert rates.whatsapp_cost("utility") == Decimal("0.01")
    assert rates.whatsapp_cost("marketing") == EXAMPLE_RATES.whatsapp_cost("marketing")
    assert rates.language_models == EXAMPLE_RATES.language_models


def test_the_example_rates_charge_marketing_and_not_service() -> None:
    assert EXAMPLE_RATES.whatsapp_cost("marketing") > 0
    assert EXAMPLE_RATES.whatsapp_cost("service") == 0


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("{oops", "not JSON"),
        ("[]", "JSON object"),
        ('{"prices": {}}', "unknown keys"),
        ('{"whatsapp": {"marketing": -1}}', "0 or more"),
        ('{"whatsapp": {"marketing": "cheap"}}', "0 or more"),
        ('{"language_models": {"m": {"prompt_per_1k": 1}}}', "completion_per_1k"),
        ('{"currency": ""}', "currency"),
    ],
)
def test_malformed_rates_are_refused_saying_why(spec: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        Rates.parse(spec)
