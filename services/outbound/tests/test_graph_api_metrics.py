"""Graph API failures on /metrics, by request and WhatsApp error code (not only "refused")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from prometheus_client import REGISTRY

from threadline.outbound.adapters.outbound.graph_api import HttpGraphApi
from threadline.outbound.application.ports import GraphApiError

if TYPE_CHECKING:
    from conftest import CloudApiStub

NUMBER = "106540352242922"
TEXT_BODY: dict[str, Any] = {
    "messaging_product": "whatsapp",
    "to": "16505551234",
    "type": "text",
    "text": {"body": "Hello"},
}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield session


def errors(request: str, code: str) -> float:
    value = REGISTRY.get_sample_value(
        "threadline_graph_api_errors_total", {"request": request, "code": code}
    )
    return value or 0.0


async def test_each_failure_is_counted_by_request_and_whatsapp_code(
    http: aiohttp.ClientSession, cloud_api: CloudApiStub
) -> None:
    graph = HttpGraphApi(http, base_url=cloud_api.url, version="v23.0", access_token="EAAG-t")
    before = {
        ("send", "131047"): errors("send", "131047"),
        ("read_receipt", "100"): errors("read_receipt", "100"),
        ("send", "http_502"): errors("send", "http_502"),
        ("send", "network"): errors("send", "network"),
    }
    cloud_api.fail_next(400, 131047, "(#131047) Re-engagement message", "More than 24 hours")
    cloud_api.fail_next(400, 100, "(#100) Invalid parameter")
    cloud_api.answer_next(502, {"not": "a graph error"})

    with pytest.raises(GraphApiError):
        await graph.send(NUMBER, TEXT_BODY)
    with pytest.raises(GraphApiError):
        await graph.mark_read(NUMBER, {"messaging_product": "whatsapp", "status": "read"})
    with pytest.raises(GraphApiError):
        await graph.send(NUMBER, TEXT_BODY)
    unreachable = HttpGraphApi(
        http, base_url="http://127.0.0.1:9", version="v23.0", access_token="t"
    )
    with pytest.raises(GraphApiError):
        await unreachable.send(NUMBER, TEXT_BODY)
    await graph.send(NUMBER, TEXT_BODY)  # accepted: not an error

    after = {key: errors(*key) for key in before}
    assert after == {key: value + 1 for key, value in before.items()}
