from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest

from threadline.outbound.adapters.outbound.graph_api import HttpGraphApi
from threadline.outbound.application.ports import GraphApiError

if TYPE_CHECKING:
    from conftest import CloudApiStub

TEXT_BODY: dict[str, Any] = {
    "messaging_product": "whatsapp",
    "recipient_type": "individual",
    "to": "16505551234",
    "type": "text",
    "text": {"body": "Hello", "preview_url": False},
}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield session


def graph_api(http: aiohttp.ClientSession, base_url: str) -> HttpGraphApi:
    return HttpGraphApi(http, base_url=base_url, version="v23.0", access_token="EAAG-test")


async def test_send_posts_the_body_with_the_bearer_token(
    http: aiohttp.ClientSession, cloud_api: CloudApiStub
) -> None:
    wamid = await graph_api(http, cloud_api.url).send("106540352242922", TEXT_BODY)

    [request] = cloud_api.requests
    assert request.path == "/v23.0/106540352242922/messages"
    assert request.authorization == "Bearer EAAG-test"
    assert request.body == TEXT_BODY
    assert wamid == cloud_api.accepted[0]


async def test_graph_error_answer_raises_with_the_whatsapp_error(
    http: aiohttp.ClientSession, cloud_api: CloudApiStub
) -> None:
    cloud_api.fail_next(400, 131047, "(#131047) Re-engagement message", "More than 24 hours")

    with pytest.raises(GraphApiError) as raised:
        await graph_api(http, cloud_api.url).send("106540352242922", TEXT_BODY)

    failure = raised.value.failure
    assert (failure.code, failure.details, failure.retryable) == (
        131047,
        "More than 24 hours",
        False,
    )
    assert raised.value.http_status == 400


async def test_unreachable_graph_api_is_a_retryable_error(http: aiohttp.ClientSession) -> None:
    with pytest.raises(GraphApiError) as raised:
        await graph_api(http, "http://127.0.0.1:9").send("106540352242922", TEXT_BODY)

    assert raised.value.failure.retryable


READ_RECEIPT: dict[str, Any] = {
    "messaging_product": "whatsapp",
    "status": "read",
    "message_id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUYzMjEzNDM2RTZGQ0MzMDJBRgA=",
    "typing_indicator": {"type": "text"},
}


async def test_mark_read_posts_the_receipt_to_the_same_endpoint_with_the_token(
    http: aiohttp.ClientSession, cloud_api: CloudApiStub
) -> None:
    await graph_api(http, cloud_api.url).mark_read("106540352242922", READ_RECEIPT)

    [request] = cloud_api.requests
    assert request.path == "/v23.0/106540352242922/messages"
    assert request.authorization == "Bearer EAAG-test"
    assert request.body == READ_RECEIPT


async def test_mark_read_refused_raises_with_the_whatsapp_error(
    http: aiohttp.ClientSession, cloud_api: CloudApiStub
) -> None:
    cloud_api.fail_next(400, 100, "(#100) Invalid parameter", "Invalid message_id")

    with pytest.raises(GraphApiError) as raised:
        await graph_api(http, cloud_api.url).mark_read("106540352242922", READ_RECEIPT)

    failure = raised.value.failure
    assert (failure.code, failure.details, failure.retryable) == (100, "Invalid message_id", False)


async def test_mark_read_answered_without_success_is_an_unexpected_answer(
    http: aiohttp.ClientSession, cloud_api: CloudApiStub
) -> None:
    cloud_api.answer_next(200, {"messaging_product": "whatsapp"})

    with pytest.raises(GraphApiError) as raised:
        await graph_api(http, cloud_api.url).mark_read("106540352242922", READ_RECEIPT)

    assert raised.value.failure.title == "Unexpected Graph API answer"
    assert not raised.value.failure.retryable
