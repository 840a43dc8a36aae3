"""Shared test data: WhatsApp's webhook samples, and signed webhook bodies made to order."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from threadline.testing import unique_id

SAMPLES_VARIABLE = "THREADLINE_WEBHOOK_SAMPLES"
Sample = tuple[str, dict[str, Any]]
TextWebhook = Callable[..., dict[str, Any]]


def samples_folder() -> Path | None:
    """`reference/webhook-samples` near the workspace, or `$THREADLINE_WEBHOOK_SAMPLES`."""
    if configured := os.environ.get(SAMPLES_VARIABLE):
        return Path(configured) if Path(configured).is_dir() else None
    for parent in Path(__file__).resolve().parents:
        for candidate in (
            parent / "shared/reference/webhook-samples",
            parent / "reference/webhook-samples",
        ):
            if candidate.is_dir():
                return candidate
    return None


def all_samples() -> Iterator[Sample]:
    """Every named sample of every file, as (`file.name`, webhook body)."""
    folder = samples_folder()
    if folder is None:
        return
    for path in sorted(folder.glob("*.json")):
        for name, body in json.loads(path.read_text()).items():
            yield f"{path.stem}.{name}", body


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize `webhook_sample` over every sample; one skipped case when there are none."""
    if "webhook_sample" not in metafunc.fixturenames:
        return
    samples = list(all_samples())
    if samples:
        metafunc.parametrize("webhook_sample", samples, ids=[name for name, _ in samples])
    else:
        skip = pytest.mark.skip(reason="reference/webhook-samples is not there")
        metafunc.parametrize("webhook_sample", [pytest.param(None, marks=skip)], ids=["none"])


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
