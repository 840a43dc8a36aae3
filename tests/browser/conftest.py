"""The console in a real browser: Debian's headless Chromium driven by Playwright (no browser
download), against a whole platform (`tests/conftest.py`) and a gateway that reads its NATS.

Run by `make test-browser`, not by `make test` (which ignores this folder)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import pytest
from playwright.async_api import Browser, async_playwright

from tests.conftest import Platform
from threadline.gateway.bootstrap import bootstrap as start_gateway
from threadline.gateway.config import GatewayConfig

CHROMIUM = os.environ.get("THREADLINE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@dataclass(frozen=True, slots=True)
class Console:
    """The gateway serving the console, and the platform behind it."""

    url: str
    platform: Platform


@pytest.fixture
async def console(
    platform: Platform, nats_server_url: str, nats_namespace: str
) -> AsyncIterator[Console]:
    async with AsyncExitStack() as stack:
        gateway = await start_gateway(
            GatewayConfig(
                port=0,
                ops_port=0,
                analytics_grpc_address=f"127.0.0.1:{platform.analytics_grpc_port}",
                session_grpc_address=f"127.0.0.1:{platform.session_grpc_port}",
                media_root=platform.media_root,
                nats_url=nats_server_url,
                nats_namespace=nats_namespace,
            ),
            stack,
        )
        yield Console(url=f"http://127.0.0.1:{gateway.port}", platform=platform)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not shutil.which(CHROMIUM):
        pytest.skip(f"needs Chromium at {CHROMIUM} (Debian: apt-get install -y chromium)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()
