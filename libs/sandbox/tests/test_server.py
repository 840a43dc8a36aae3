from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
import pytest

from threadline.sandbox.receiver import WebhookReceiver
from threadline.sandbox.server import Sandbox

if TYPE_CHECKING:
    from conftest import ConfigFactory


async def test_port_zero_listens_on_a_free_port_and_reports_it(
    receiver: WebhookReceiver, make_config: ConfigFactory, http: aiohttp.ClientSession
) -> None:
    async with Sandbox(make_config(receiver.url, port=0)) as sandbox:
        response = await http.get(f"{sandbox.url}/healthz")
        response.release()

    assert sandbox.port > 0 and response.status == 200


async def test_url_is_refused_before_the_sandbox_starts(
    receiver: WebhookReceiver, make_config: ConfigFactory
) -> None:
    sandbox = Sandbox(make_config(receiver.url))

    with pytest.raises(RuntimeError, match="not started"):
        _ = sandbox.url


async def test_stopped_sandbox_no_longer_answers(
    receiver: WebhookReceiver, make_config: ConfigFactory, http: aiohttp.ClientSession
) -> None:
    async with Sandbox(make_config(receiver.url)) as sandbox:
        url = f"{sandbox.url}/healthz"

    with pytest.raises(aiohttp.ClientConnectionError):
        async with http.get(url):
            pass
