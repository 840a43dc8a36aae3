from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
import pytest

from threadline.analytics.__main__ import main

if TYPE_CHECKING:
    from conftest import RunningAnalytics


async def test_the_running_service_is_ready(analytics: RunningAnalytics) -> None:
    url = f"http://127.0.0.1:{analytics.service.ops_port}/readyz"

    async with aiohttp.ClientSession() as session, session.get(url) as response:
        body = await response.json()

    assert response.status == 200
    assert body == {"ready": True, "problems": {}}


def test_the_entry_point_refuses_to_start_without_a_database_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("THREADLINE_DATABASE_URL", raising=False)
    monkeypatch.setenv("THREADLINE_API_TOKENS", "")

    with pytest.raises(SystemExit, match="THREADLINE_DATABASE_URL"):
        main()
