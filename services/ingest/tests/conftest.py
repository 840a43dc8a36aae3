"""Shared test data: the project's webhook samples, and signed webhook bodies made to order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from threadline.testing import unique_id
from threadline.testing.samples import webhook_samples

Sample = tuple[str, dict[str, Any]]
TextWebhook = Callable[..., dict[str, Any]]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize `webhook_sample` over every sample of `threadline.testing.samples`."""
    if "webhook_sample" not in metafunc.fixturenames:
        return
    samples = webhook_samples()
    metafunc.parametrize("webhook_sample", samples, ids=[name for name, _ in samples])


@pytest.fixture
def text_webhook() -> TextWebhook:
    """Builds a `messages` webhook carrying one text message, with fresh ids unless given."""

    def build(
        *,
        text: str = "Hello",
        wamid: str | None = None,
        phone_number_id: str = "106540352242922",
        wa_id: str | None = "16505551234",
        user_id: str | None = None,
        profile_name: str = "Sheena Nelson",
        timestamp: str = "1749416383",
    ) -> dict[str, Any]:
        contact: dict[str, Any] = {"profile": {"name": profile_name}}
        message: dict[str, Any] = {
            "id": wamid or unique_id("wamid.test", length=20),
            "timestamp": timestamp,
            "type": "text",
            "text": {"body": text},
        }
        if wa_id is not None:
            contact["wa_id"] = wa_id
            message["from"] = wa_id
        if user_id is not None:
            contact["user_id"] = user_id
            message["from_user_id"] = user_id
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
            "contacts": [contact],
            "messages": [message],
        }
        return {
            "object": "whatsapp_business_account",
            "entry": [
                {"id": "419561257915477", "changes": [{"value": value, "field": "messages"}]}
            ],
        }

    return build
