from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import aiohttp
import pytest

from threadline.analytics.__main__ import main
from threadline.analytics.bootstrap import local_address

if TYPE_CHECKING:
    from conftest import RunningAnalytics


async def test_the_running_service_is_ready(analytics: RunningAnalytics) -> None:
    url = f"http://127.0.0.1:{analytics.service.ops_port}/readyz"

    async with aiohttp.ClientSession() as session, session.get(url) as response:
        body = await response.json()

    assert response.status == 200
    assert body == {"ready": True, "problems": {}}


def test_the_entry_point_refuses_to_start_without_a_database_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("THREADLINE_DATABASE_URL", raising=False)
    monkeypatch.setenv("THREADLINE_API_TOKENS", "")
    root = logging.getLogger()  # the entry point configures logging: put it back afterwards
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)

    with pytest.raises(SystemExit) as exited:
        main()

    # Every service reports a bad configuration alike: one line naming it, exit status 2.
    assert exited.value.code == 2
    assert "THREADLINE_DATABASE_URL" in capsys.readouterr().err


def test_a_grpc_server_bound_to_every_interface_is_reached_on_loopback() -> None:
    assert local_address("0.0.0.0", 50052) == "127.0.0.1:50052"
    assert local_address("::", 50052) == "[::1]:50052"
    assert local_address("10.0.0.5", 50052) == "10.0.0.5:50052"
