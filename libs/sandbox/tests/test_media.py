"""The media endpoints over the real sandbox: upload, look up, download, delete, expiry."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest

from threadline.sandbox.receiver import WebhookReceiver
from threadline.sandbox.sample_media import SAMPLES
from threadline.sandbox.server import Sandbox

if TYPE_CHECKING:
    from conftest import ConfigFactory

ACCESS_TOKEN = "sandbox-tests-access-token"
AUTH = {"Authorization": f"Bearer {ACCESS_TOKEN}"}
PNG = SAMPLES["image"].data


def upload_form(
    data: bytes, mime_type: str | None = "image/png", *, product: str = "whatsapp"
) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("messaging_product", product)
    if mime_type is not None:
        form.add_field("type", mime_type)
    form.add_field("file", data, filename="photo.png", content_type="image/png")
    return form


async def upload(
    http: aiohttp.ClientSession, sandbox: Sandbox, phone_number_id: str, data: bytes = PNG
) -> str:
    url = f"{sandbox.url}/v23.0/{phone_number_id}/media"
    async with http.post(url, data=upload_form(data), headers=AUTH) as response:
        assert response.status == 200, await response.text()
        media_id: str = (await response.json())["id"]
    return media_id


async def retrieve(
    http: aiohttp.ClientSession, sandbox: Sandbox, media_id: str, **query: str
) -> tuple[int, Any]:
    url = f"{sandbox.url}/v23.0/{media_id}"
    async with http.get(url, headers=AUTH, params=query) as response:
        return response.status, await response.json()


@pytest.fixture
async def quick_sandbox(
    receiver: WebhookReceiver, make_config: ConfigFactory
) -> AsyncIterator[Sandbox]:
    """A sandbox whose download URLs last 0.3 s and whose uploads last 1 s."""
    config = make_config(receiver.url, media_url_ttl_s=0.3, uploaded_media_ttl_s=1.0)
    async with Sandbox(config) as started:
        yield started


async def test_upload_then_retrieve_describes_the_file_as_the_cloud_api_does(
    sandbox: Sandbox, http: aiohttp.ClientSession, phone_number_id: str
) -> None:
    media_id = await upload(http, sandbox, phone_number_id)

    status, described = await retrieve(http, sandbox, media_id)

    assert status == 200
    assert set(described) == {"url", "mime_type", "sha256", "file_size", "id", "messaging_product"}
    assert (described["id"], described["mime_type"], described["messaging_product"]) == (
        media_id,
        "image/png",
        "whatsapp",
    )
    assert described["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert described["file_size"] == str(len(PNG))
    assert described["url"].startswith(f"{sandbox.url}/whatsapp_business/attachments/?")


async def test_the_download_url_gives_the_bytes_and_type_with_the_bearer_token_only(
    sandbox: Sandbox, http: aiohttp.ClientSession, phone_number_id: str
) -> None:
    media_id = await upload(http, sandbox, phone_number_id)
    _, described = await retrieve(http, sandbox, media_id)

    async with http.get(described["url"]) as anonymous:
        refused = await anonymous.json()
    async with http.get(described["url"], headers=AUTH) as response:
        body = await response.read()

    assert (anonymous.status, refused["error"]["code"]) == (401, 190)
    assert (response.status, response.headers["Content-Type"], body) == (200, "image/png", PNG)


async def test_a_forged_download_url_is_refused(
    sandbox: Sandbox, http: aiohttp.ClientSession, phone_number_id: str
) -> None:
    mine = await upload(http, sandbox, phone_number_id)
    other = await upload(http, sandbox, phone_number_id, b"other bytes")
    _, described = await retrieve(http, sandbox, mine)

    forged = described["url"].replace(f"mid={mine}", f"mid={other}")
    async with http.get(forged, headers=AUTH) as response:
        error = await response.json()

    assert response.status == 404
    assert "signature is invalid" in error["error"]["message"]


async def test_the_download_url_expires_and_a_new_look_up_gives_a_working_one(
    quick_sandbox: Sandbox, http: aiohttp.ClientSession, phone_number_id: str
) -> None:
    media_id = await upload(http, quick_sandbox, phone_number_id)
    _, first = await retrieve(http, quick_sandbox, media_id)

    await asyncio.sleep(0.4)
    async with http.get(first["url"], headers=AUTH) as expired:
        error = await expired.json()
    _, second = await retrieve(http, quick_sandbox, media_id)
    async with http.get(second["url"], headers=AUTH) as fresh:
        body = await fresh.read()

    assert (expired.status, "expired" in error["error"]["message"]) == (404, True)
    assert (fresh.status, body) == (200, PNG)


async def test_an_uploaded_media_id_expires(
    quick_sandbox: Sandbox, http: aiohttp.ClientSession, phone_number_id: str
) -> None:
    media_id = await upload(http, quick_sandbox, phone_number_id)
    assert (await retrieve(http, quick_sandbox, media_id))[0] == 200

    await asyncio.sleep(1.1)
    status, error = await retrieve(http, quick_sandbox, media_id)

    assert (status, error["error"]["code"], error["error"]["error_subcode"]) == (400, 100, 33)


async def test_delete_forgets_the_media(
    sandbox: Sandbox, http: aiohttp.ClientSession, phone_number_id: str
) -> None:
    media_id = await upload(http, sandbox, phone_number_id)
    _, described = await retrieve(http, sandbox, media_id)

    async with http.delete(f"{sandbox.url}/v23.0/{media_id}", headers=AUTH) as deleted:
        answer = await deleted.json()
    async with http.delete(f"{sandbox.url}/v23.0/{media_id}", headers=AUTH) as again:
        again_error = await again.json()
    async with http.get(described["url"], headers=AUTH) as download:
        pass

    assert (deleted.status, answer) == (200, {"success": True})
    assert (again.status, again_error["error"]["error_subcode"]) == (400, 33)
    assert (await retrieve(http, sandbox, media_id))[0] == 400
    assert download.status == 404


async def test_phone_number_id_restricts_look_up_to_the_owner(
    sandbox: Sandbox, http: aiohttp.ClientSession, phone_number_id: str
) -> None:
    media_id = await upload(http, sandbox, phone_number_id)

    owner, _ = await retrieve(http, sandbox, media_id, phone_number_id=phone_number_id)
    other, _ = await retrieve(http, sandbox, media_id, phone_number_id="999")

    assert (owner, other) == (200, 400)


@pytest.mark.parametrize(
    ("mime_type", "data", "product", "problem"),
    [
        (None, PNG, "whatsapp", "type is required"),
        ("image/gif", PNG, "whatsapp", "'image/gif' is not a supported media type"),
        ("image/png", b"x" * (5 * 1024 * 1024 + 1), "whatsapp", "the maximum for image/png is"),
        ("image/png", PNG, "instagram", "messaging_product must be 'whatsapp'"),
    ],
    ids=["no-type", "unsupported-type", "image-over-5mb", "wrong-product"],
)
async def test_uploads_the_cloud_api_refuses_are_refused(
    sandbox: Sandbox,
    http: aiohttp.ClientSession,
    phone_number_id: str,
    mime_type: str | None,
    data: bytes,
    product: str,
    problem: str,
) -> None:
    url = f"{sandbox.url}/v23.0/{phone_number_id}/media"
    form = upload_form(data, mime_type, product=product)

    async with http.post(url, data=form, headers=AUTH) as response:
        error = await response.json()

    assert (response.status, error["error"]["code"]) == (400, 100)
    assert problem in error["error"]["error_data"]["details"]


async def test_media_endpoints_need_the_bearer_token(
    sandbox: Sandbox, http: aiohttp.ClientSession, phone_number_id: str
) -> None:
    media_id = await upload(http, sandbox, phone_number_id)
    wrong = {"Authorization": "Bearer wrong"}

    async with http.post(
        f"{sandbox.url}/v23.0/{phone_number_id}/media", data=upload_form(PNG), headers=wrong
    ) as posted:
        pass
    async with http.get(f"{sandbox.url}/v23.0/{media_id}", headers=wrong) as got:
        pass
    async with http.delete(f"{sandbox.url}/v23.0/{media_id}") as deleted:
        pass

    assert (posted.status, got.status, deleted.status) == (401, 401, 401)
    assert (await retrieve(http, sandbox, media_id))[0] == 200


async def test_stored_media_is_bounded_by_count_and_bytes(
    receiver: WebhookReceiver,
    http: aiohttp.ClientSession,
    make_config: ConfigFactory,
    phone_number_id: str,
) -> None:
    config = make_config(receiver.url, media_limit=2, media_bytes_limit=1000)
    async with Sandbox(config) as sandbox:
        first, second, third = [
            await upload(http, sandbox, phone_number_id, bytes([n]) * 300) for n in range(3)
        ]
        kept_by_count = [(await retrieve(http, sandbox, m))[0] for m in (first, second, third)]
        big = await upload(http, sandbox, phone_number_id, b"b" * 800)
        kept_by_bytes = [(await retrieve(http, sandbox, m))[0] for m in (third, big)]

    assert kept_by_count == [400, 200, 200]
    assert kept_by_bytes == [400, 200]
