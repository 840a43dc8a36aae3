"""Knowledge bases through the gateway (issue 12 item 1) against the AI responder's real
`KnowledgeBases` gRPC server (NATS, the machine's PostgreSQL, the offline embedder): documents
uploaded as multipart, listed with their counts, searched; refusals in the gateway's shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import pytest
from yarl import URL

from threadline.ai_responder.bootstrap import bootstrap as start_ai_responder
from threadline.ai_responder.config import AiResponderConfig
from threadline.gateway.adapters.inbound.http.knowledge import MAX_DOCUMENT_BYTES
from threadline.gateway.bootstrap import bootstrap as start_gateway
from threadline.gateway.config import GatewayConfig
from threadline.servicekit.auth import hash_token

WRITER, READER = "kb-gateway-writer", "kb-gateway-reader"
TOKENS = f"{hash_token(WRITER)}:read,write:*;{hash_token(READER)}:read:*"
HOURS_MD = """\
# Lina's Hair Salon

## Opening hours

We open Tuesday to Saturday, from 9 to 19. On Sundays and Mondays we are closed.
"""
PRICES_HTML = "<html><body><h1>Prices</h1><p>A women's cut costs 35 euros.</p></body></html>"
NO_SERVER = "127.0.0.1:9"  # discard: nothing answers gRPC there

Json = dict[str, Any]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def form(*files: tuple[str, bytes, str]) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for name, content, content_type in files:
        data.add_field("file", content, filename=name, content_type=content_type)
    return data


async def gateway(stack: AsyncExitStack, knowledge_address: str) -> aiohttp.ClientSession:
    running = await start_gateway(
        GatewayConfig(
            port=0,
            ops_port=0,
            analytics_grpc_address=NO_SERVER,
            session_grpc_address=NO_SERVER,
            knowledge_grpc_address=knowledge_address,
        ),
        stack,
    )
    return await stack.enter_async_context(
        aiohttp.ClientSession(base_url=URL(f"http://127.0.0.1:{running.port}"))
    )


@pytest.fixture
async def http(
    database_url: str, nats_server_url: str, nats_namespace: str
) -> AsyncIterator[aiohttp.ClientSession]:
    async with AsyncExitStack() as stack:
        ai_responder = await start_ai_responder(
            AiResponderConfig(
                nats_url=nats_server_url,
                nats_namespace=nats_namespace,
                ops_port=0,
                database_url=database_url,
                grpc_port=0,
                api_tokens=TOKENS,
            ),
            stack,
        )
        assert ai_responder.grpc_port
        yield await gateway(stack, f"127.0.0.1:{ai_responder.grpc_port}")


async def upload(
    http: aiohttp.ClientSession,
    base: str,
    data: aiohttp.FormData | aiohttp.MultipartWriter,
    *,
    token: str = WRITER,
    key: str = "",
) -> tuple[int, Json]:
    headers = bearer(token) | ({"Idempotency-Key": key} if key else {})
    async with http.post(
        f"/api/v1/knowledge-bases/{base}/documents", data=data, headers=headers
    ) as response:
        return response.status, await response.json()


async def get(http: aiohttp.ClientSession, path: str, **params: str) -> tuple[int, Json]:
    async with http.get(path, params=params, headers=bearer(READER)) as response:
        return response.status, await response.json()


async def test_documents_are_uploaded_listed_and_searched(http: aiohttp.ClientSession) -> None:
    status, added = await upload(
        http,
        "salon",
        form(
            ("hours.md", HOURS_MD.encode(), "application/octet-stream"),  # typed by its name
            ("prices.html", PRICES_HTML.encode(), "text/html"),
        ),
    )
    assert status == 200, added
    assert added["knowledge_base"] == "salon"
    assert [(d["document"], d["replaced"]) for d in added["documents"]] == [
        ("hours.md", False),
        ("prices.html", False),
    ]
    assert all(d["passages"] >= 1 for d in added["documents"])
    await upload(http, "other", form(("notes.txt", b"Gift cards are sold at the desk.", "")))

    status, listed = await get(http, "/api/v1/knowledge-bases")
    assert status == 200
    passages = sum(d["passages"] for d in added["documents"])
    assert listed["data"] == [
        {"name": "other", "documents": 1, "passages": 1},
        {"name": "salon", "documents": 2, "passages": passages},
    ]

    status, found = await get(
        http, "/api/v1/knowledge-bases/salon/search", q="How much is a women's cut?", k="2"
    )
    assert status == 200, found
    assert found["knowledge_base"] == "salon" and not found["abstained"]
    assert 1 <= len(found["data"]) <= 2
    best = found["data"][0]
    assert (best["knowledge_base"], best["document"]) == ("salon", "prices.html")
    assert "35 euros" in best["text"] and best["score"] > 0
    assert set(best) == {"knowledge_base", "document", "position", "text", "score", "similarity"}


async def test_an_idempotency_key_answers_a_retry_as_the_first_time(
    http: aiohttp.ClientSession,
) -> None:
    files = (("hours.md", HOURS_MD.encode(), "text/markdown"),)
    first = await upload(http, "salon", form(*files), key="kb-upload-1")
    again = await upload(http, "salon", form(*files), key="kb-upload-1")
    assert first == again and first[0] == 200
    assert first[1]["documents"][0]["replaced"] is False

    without = await upload(http, "salon", form(*files))  # no key: added again, replacing
    assert without[1]["documents"][0]["replaced"] is True

    other = await upload(http, "salon", form(("b.txt", b"Other text.", "")), key="kb-upload-1")
    assert other[0] == 409 and other[1]["error"]["code"] == "FAILED_PRECONDITION"
    assert "Idempotency-Key" in other[1]["error"]["message"]

    _, listed = await get(http, "/api/v1/knowledge-bases")
    assert [(b["name"], b["documents"]) for b in listed["data"]] == [("salon", 1)]


@pytest.mark.parametrize(
    ("files", "status", "names"),
    [
        ((("photo.png", b"\x89PNG....", "image/png"),), 415, "file[0] (photo.png)"),
        ((("empty.txt", b"", "text/plain"),), 400, "file[0] (empty.txt)"),
        ((("no-name", b"text", "text/plain"),), 400, "file[0]"),
        (
            (("a.txt", b"one", "text/plain"), ("a.txt", b"two", "text/plain")),
            400,
            "file[1]",
        ),
        ((("big.txt", b"x" * (MAX_DOCUMENT_BYTES + 1), "text/plain"),), 413, "file[0] (big.txt)"),
    ],
)
async def test_files_the_knowledge_service_would_refuse_are_refused_naming_the_part(
    http: aiohttp.ClientSession, files: tuple[tuple[str, bytes, str], ...], status: int, names: str
) -> None:
    data = aiohttp.MultipartWriter("form-data")
    for name, content, content_type in files:
        part = data.append(content, {"Content-Type": content_type})
        named = {} if name == "no-name" else {"filename": name}
        part.set_content_disposition("form-data", name="file", **named)
    refused, body = await upload(http, "salon", data)
    assert refused == status, body
    assert body["error"]["message"].startswith(names)
    _, listed = await get(http, "/api/v1/knowledge-bases")
    assert listed["data"] == []


async def test_refusals_of_the_knowledge_service_keep_the_gateways_shape(
    http: aiohttp.ClientSession,
) -> None:
    bad_name, body = await upload(http, "Not A Name", form(("a.txt", b"text", "text/plain")))
    assert bad_name == 400 and body["error"]["code"] == "INVALID_ARGUMENT"
    assert "knowledge_base" in body["error"]["message"]

    reader, body = await upload(http, "salon", form(("a.txt", b"t", "")), token=READER)
    assert reader == 403 and body["error"]["code"] == "PERMISSION_DENIED"

    no_question, body = await get(http, "/api/v1/knowledge-bases/salon/search")
    assert no_question == 400 and body["error"]["message"].startswith("q is required")

    bad_k, body = await get(http, "/api/v1/knowledge-bases/salon/search", q="hours?", k="99")
    assert bad_k == 400 and body["error"]["message"].startswith("k must be")

    async with http.get("/api/v1/knowledge-bases") as response:
        assert response.status == 401


async def test_without_a_knowledge_service_the_routes_answer_503() -> None:
    async with AsyncExitStack() as stack:
        http = await gateway(stack, NO_SERVER)
        status, body = await get(http, "/api/v1/knowledge-bases")
        assert status == 503 and body["error"]["code"] == "UNAVAILABLE"
        status, body = await upload(http, "salon", form(("a.txt", b"text", "text/plain")))
        assert status == 503 and body["error"]["code"] == "UNAVAILABLE"
