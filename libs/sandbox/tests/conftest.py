"""Fixtures: a real sandbox on a free port, and a real webhook receiver it delivers to."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp
import pytest

from threadline.sandbox.config import SandboxConfig
from threadline.sandbox.receiver import WebhookReceiver
from threadline.sandbox.server import Sandbox

APP_SECRET = "sandbox-tests-app-secret"
ACCESS_TOKEN = "sandbox-tests-access-token"


def sandbox_config(webhook_url: str, **overrides: Any) -> SandboxConfig:
    """A configuration for tests: free port, quick statuses, quick retries."""
    settings: dict[str, Any] = {
        "app_secret": APP_SECRET,
        "access_token": ACCESS_TOKEN,
        "port": 0,
        "webhook_url": webhook_url,
        "status_delay_ms": 5,
        "webhook_backoff_ms": 10,
    }
    settings.update(overrides)
    return SandboxConfig(**settings)


class GraphClient:
    """Sends Cloud API requests to a sandbox, as the platform's outbound service would."""

    def __init__(self, http: aiohttp.ClientSession, sandbox: Sandbox) -> None:
        self.http = http
        self.sandbox = sandbox

    async def send(
        self,
        phone_number_id: str,
        body: Mapping[str, object] | str,
        *,
        token: str | None = ACCESS_TOKEN,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        """POST a send-message request; the HTTP status and the parsed JSON reply."""
        headers = dict(headers or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        url = f"{self.sandbox.url}/v23.0/{phone_number_id}/messages"
        kwargs: dict[str, Any] = {"data": body} if isinstance(body, str) else {"json": body}
        async with self.http.post(url, headers=headers, **kwargs) as response:
            return response.status, await response.json()


ConfigFactory = Callable[..., SandboxConfig]


@pytest.fixture
def make_config() -> ConfigFactory:
    """Build a test configuration for a webhook URL, with keyword overrides."""
    return sandbox_config


@pytest.fixture
def app_secret() -> str:
    return APP_SECRET


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver(APP_SECRET) as started:
        yield started


@pytest.fixture
async def sandbox(receiver: WebhookReceiver) -> AsyncIterator[Sandbox]:
    async with Sandbox(sandbox_config(receiver.url)) as started:
        yield started


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def graph(http: aiohttp.ClientSession, sandbox: Sandbox) -> GraphClient:
    return GraphClient(http, sandbox)


@pytest.fixture
def make_graph(http: aiohttp.ClientSession) -> Callable[[Sandbox], GraphClient]:
    """A Cloud API client for a sandbox the test starts itself."""
    return lambda sandbox: GraphClient(http, sandbox)


@pytest.fixture
def phone_number_id() -> str:
    """A business phone number id no other test uses."""
    return str(100_000_000_000_000 + uuid.uuid4().int % 10**14)


@pytest.fixture
def wa_id() -> str:
    """A customer's WhatsApp id no other test uses."""
    return "1555" + str(uuid.uuid4().int % 10**7).zfill(7)
