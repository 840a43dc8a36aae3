"""The sandbox the demo tests' customer writes through, and the webhook receiver standing in
for the platform behind it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

import pytest

from threadline.sandbox.config import SandboxConfig
from threadline.sandbox.receiver import WebhookReceiver
from threadline.sandbox.server import Sandbox

APP_SECRET: Final = "demo-tests-app-secret"


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver(APP_SECRET) as started:
        yield started


@pytest.fixture
async def sandbox(receiver: WebhookReceiver) -> AsyncIterator[Sandbox]:
    config = SandboxConfig(
        app_secret=APP_SECRET,
        access_token="demo-tests-access-token",
        port=0,
        webhook_url=receiver.url,
        status_delay_ms=5,
        webhook_backoff_ms=10,
    )
    async with Sandbox(config) as started:
        yield started
