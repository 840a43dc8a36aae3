"""The JSON-over-HTTP gateway in front of session and analytics, over real NATS and PostgreSQL.

Conversations come from the session service itself (customers write through ingest's
subject), so a status change sent through the gateway reaches a session that knows them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from uuid import uuid4

import aiohttp
import nats
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import MultiDict
from nats.js import JetStreamContext
from yarl import URL

from threadline.analytics.application.read import queries
from threadline.analytics.bootstrap import RunningAnalytics
from threadline.analytics.bootstrap import bootstrap as start_analytics
from threadline.analytics.config import AnalyticsConfig
from threadline.contracts.events.v1 import ai_pb2, common_pb2, ingest_pb2
from threadline.gateway.adapters.inbound.http.errors import BadRequest
from threadline.gateway.adapters.inbound.http.params import Query
from threadline.gateway.bootstrap import RunningGateway
from threadline.gateway.bootstrap import bootstrap as start_gateway
from threadline.gateway.config import GatewayConfig
from threadline.messaging.topology import INBOUND_MESSAGE_RECEIVED, TOOL_CALLED, Topology
from threadline.servicekit.auth import TokenRegistry, hash_token
from threadline.session.bootstrap import bootstrap
from threadline.session.config import SessionConfig
from threadline.session.domain.business_number import business_number_id
from threadline.session.domain.contact import contact_key_id
from threadline.testing import eventually

BUSINESS_NUMBER = "pn-gateway-1"
OTHER_NUMBER = "pn-gateway-2"
OPERATOR = "operator-of-every-number"
READER = "reader-of-every-number"
TENANT = "reader-of-the-other-number"
ADMIN = "admin-of-every-number"
# A page from here may call the API from a browser (THREADLINE_GATEWAY_CORS_ORIGINS).
CONSOLE_ORIGIN = "http://console.example:8080"
TOKENS = (
    f"{hash_token(ADMIN)}:admin:*;"
    f"{hash_token(OPERATOR)}:read,write:*;"
    f"{hash_token(READER)}:read:*;"
    f"{hash_token(TENANT)}:read,write:{OTHER_NUMBER}"
)
CONVERSATION_FIELDS = {
    "id",
    "lead_id",
    "session_key",
    "channel",
    "status",
    "message_count",
    "created_at",
    "updated_at",
    "lead",
    "last_message_at",
    "last_message_preview",
    "business_number",
}
MESSAGE_FIELDS = {
    *("id", "conversation_id", "role", "type", "content", "status", "metadata"),
    "interpretation",  # an AI reply's: what its model saw in the customer's images
    "citations",  # an AI reply's: the knowledge-base passages it used (issue 12)
}

Json = dict[str, Any]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Platform:
    """Session, analytics and the gateway running; customers write, callers use HTTP."""

    http: aiohttp.ClientSession
    js: JetStreamContext
    topology: Topology
    analytics: RunningAnalytics
    gateway: RunningGateway
    written: dict[str, int] = field(default_factory=dict)

    async def customer_writes(self, *texts: str, wa_id: str, number: str = BUSINESS_NUMBER) -> Json:
        """The customer's conversation once analytics shows all their messages."""
        for text in texts:
            await self._inbound(wa_id, number, text)
        self.written[wa_id] = self.written.get(wa_id, 0) + len(texts)
        found: list[Json] = []

        async def projected() -> bool:
            listed = await self.get("/api/v1/conversations", customer_phone=wa_id)
            found[:] = listed["conversations"]
            return bool(found) and found[0]["message_count"] == self.written[wa_id]

        await eventually(projected, timeout=15)
        return found[0]

    async def get(self, path: str, *, token: str = OPERATOR, **params: str) -> Json:
        async with self.http.get(path, params=params, headers=bearer(token)) as response:
            assert response.status == 200, await response.text()
            body: Json = await response.json()
            return body

    async def refusal(
        self, method: str, path: str, *, token: str | None = OPERATOR, **options: Any
    ) -> tuple[int, Json]:
        headers = bearer(token) if token else {}
        async with self.http.request(method, path, headers=headers, **options) as response:
            return response.status, (await response.json())["error"]

    async def _inbound(self, wa_id: str, number: str, text: str) -> None:
        fact = ingest_pb2.InboundMessageReceived(
            wamid=f"wamid.{uuid4().hex}",
            phone_number_id=number,
            customer=common_pb2.CustomerIdentity(wa_id=wa_id, profile_name="Ana"),
            content=common_pb2.MessageContent(type="text", text=text),
        )
        fact.sent_at.FromDatetime(datetime.now(UTC))
        fact.received_at.FromDatetime(datetime.now(UTC))
        subject = self.topology.publish_subject(INBOUND_MESSAGE_RECEIVED, phone_number_id=number)
        await self.js.publish(
            subject, fact.SerializeToString(), headers={"Nats-Msg-Id": fact.wamid}
        )


@pytest.fixture
async def platform(
    nats_server_url: str, nats_namespace: str, database_url: str
) -> AsyncIterator[Platform]:
    async with AsyncExitStack() as stack:
        session = await bootstrap(
            SessionConfig(
                nats_url=nats_server_url,
                nats_namespace=nats_namespace,
                database_url=database_url,
                api_tokens=TOKENS,
                grpc_port=0,
                ops_port=0,
            ),
            stack,
        )
        analytics = await start_analytics(
            AnalyticsConfig(
                nats_url=nats_server_url,
                nats_namespace=nats_namespace,
                database_url=database_url,
                tokens=TokenRegistry.parse(TOKENS),
                grpc_port=0,
                ops_port=0,
                batch_size=50,
            ),
            stack,
        )
        gateway = await start_gateway(
            GatewayConfig(
                port=0,
                ops_port=0,
                analytics_grpc_address=analytics.grpc_address,
                session_grpc_address=f"127.0.0.1:{session.grpc_port}",
                cors_origins=(CONSOLE_ORIGIN,),
            ),
            stack,
        )
        client = await nats.connect(nats_server_url)
        stack.push_async_callback(client.drain)
        http = aiohttp.ClientSession(f"http://127.0.0.1:{gateway.port}")
        stack.push_async_callback(http.close)
        yield Platform(http, client.jetstream(), Topology(nats_namespace), analytics, gateway)


def customer() -> str:
    return f"1555{uuid4().int % 10**7:07d}"


async def test_an_estimated_total_is_said_in_a_header_and_the_body_keeps_its_shape(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    await platform.customer_writes("hello", wa_id=customer())
    await platform.customer_writes("hi", wa_id=customer())
    url = f"http://127.0.0.1:{platform.gateway.port}/api/v1/conversations"

    async with platform.http.get(url, headers=bearer(READER)) as counted:
        assert "X-Total-Estimated" not in counted.headers
    monkeypatch.setattr(queries, "COUNT_BOUND", 1)  # the bound, as if 10,000 were passed
    async with platform.http.get(url, headers=bearer(READER)) as estimated:
        page = await estimated.json()

    assert estimated.headers["X-Total-Estimated"] == "true"
    assert set(page) == {"conversations", "total", "page", "size"} and page["total"] >= 2


async def test_conversations_are_listed_newest_activity_first_in_the_seed_shape(
    platform: Platform,
) -> None:
    first = await platform.customer_writes("hello", wa_id=customer())
    second = await platform.customer_writes("hi there", wa_id=customer())
    await platform.customer_writes("one more thing", wa_id=first["lead"]["wa_id"])

    page = await platform.get("/api/v1/conversations")

    assert [c["id"] for c in page["conversations"]] == [first["id"], second["id"]]
    assert (page["total"], page["page"], page["size"]) == (2, 1, 20)
    latest = page["conversations"][0]
    assert latest.keys() >= CONVERSATION_FIELDS
    assert (latest["message_count"], latest["last_message_preview"]) == (2, "one more thing")
    assert (latest["status"], latest["channel"]) == ("active", "whatsapp")
    assert latest["lead"]["id"] == latest["lead_id"]
    assert datetime.fromisoformat(latest["last_message_at"]) >= datetime.fromisoformat(
        latest["created_at"]
    )


async def test_a_page_holds_at_most_size_conversations_and_tells_the_total(
    platform: Platform,
) -> None:
    for _ in range(3):
        await platform.customer_writes("hello", wa_id=customer())

    pages = [await platform.get("/api/v1/conversations", page=str(n), size="2") for n in (1, 2)]

    assert [len(p["conversations"]) for p in pages] == [2, 1]
    assert [(p["total"], p["page"], p["size"]) for p in pages] == [(3, 1, 2), (3, 2, 2)]


async def test_conversations_are_filtered_by_phone_number_lead_status_and_channel(
    platform: Platform,
) -> None:
    ana = await platform.customer_writes("hello", wa_id=customer())
    bea = await platform.customer_writes("hello", wa_id=customer(), number=OTHER_NUMBER)

    async def ids(**params: str) -> list[str]:
        return [
            c["id"]
            for c in (await platform.get("/api/v1/conversations", **params))["conversations"]
        ]

    assert await ids(customer_phone="+" + bea["lead"]["wa_id"]) == [bea["id"]]
    assert await ids(business_number=BUSINESS_NUMBER) == [ana["id"]]
    assert await ids(lead_id=ana["lead_id"]) == [ana["id"]]
    assert await ids(status="completed") == []
    assert await ids(channel="whatsapp", status="active") == [bea["id"], ana["id"]]


async def test_conversations_are_filtered_by_when_they_were_created(
    platform: Platform,
) -> None:
    earlier = await platform.customer_writes("hello", wa_id=customer())
    between = datetime.now(UTC).isoformat()
    later = await platform.customer_writes("hello", wa_id=customer())

    after = await platform.get("/api/v1/conversations", created_from=between)
    before = await platform.get("/api/v1/conversations", created_to=between)

    assert [c["id"] for c in after["conversations"]] == [later["id"]]
    assert [c["id"] for c in before["conversations"]] == [earlier["id"]]


async def test_a_conversation_comes_with_its_messages_oldest_first(platform: Platform) -> None:
    started = await platform.customer_writes("first", "second", wa_id=customer())

    conversation = await platform.get(f"/api/v1/conversations/{started['id']}")

    assert conversation["id"] == started["id"]
    assert conversation.keys() >= CONVERSATION_FIELDS
    assert [m["content"] for m in conversation["messages"]] == ["first", "second"]
    message = conversation["messages"][0]
    assert message.keys() >= MESSAGE_FIELDS
    assert (message["conversation_id"], message["role"], message["type"]) == (
        started["id"],
        "user",
        "text",
    )
    assert isinstance(message["metadata"], dict)
    assert message["interpretation"] == ""  # a customer's message: no model saw anything
    assert message["citations"] == []
    assert datetime.fromisoformat(message["created_at"]).tzinfo is not None


async def test_a_conversations_tool_calls_are_listed_as_the_session_recorded_them(
    platform: Platform,
) -> None:
    started = await platform.customer_writes("is Tuesday free?", wa_id=customer())
    for n, (tool, arguments, status, http_status) in enumerate(
        [
            ("check_availability", '{"day":"2026-06-02"}', "ok", 200),
            ("book", '{"day":"2026-06-02","time":"10:00"}', "http_error", 409),
        ]
    ):
        called = ai_pb2.ToolCalled(
            call_id=f"gen-1:call-{n}",
            conversation_id=started["id"],
            generation_id="gen-1",
            tool=tool,
            arguments_json=arguments,
            status=status,
            http_status=http_status,
            result_json='{"free":true}',
            latency_seconds=0.25,
            mutating=tool == "book",
        )
        called.called_at.FromDatetime(datetime.now(UTC))
        await platform.js.publish(
            platform.topology.publish_subject(TOOL_CALLED),
            called.SerializeToString(),
            headers={"Nats-Msg-Id": called.call_id},
        )
    path = f"/api/v1/conversations/{started['id']}/tool-calls"
    listed: Json = {}

    async def recorded() -> bool:
        listed.update(await platform.get(path))
        return bool(listed["total"] == 2)

    await eventually(recorded, timeout=15)

    assert (listed["page"], listed["size"]) == (1, 20)
    first, second = listed["data"]
    assert set(first) == {
        *("id", "conversation_id", "generation_id", "tool", "arguments", "status"),
        *("http_status", "latency_ms", "mutating", "replayed", "at"),
    }
    assert (first["id"], first["tool"], first["arguments"]) == (
        "gen-1:call-0",
        "check_availability",
        {"day": "2026-06-02"},
    )
    assert (first["status"], first["http_status"], first["mutating"]) == ("ok", 200, False)
    assert first["latency_ms"] == 250 and datetime.fromisoformat(first["at"]).tzinfo is not None
    assert (second["tool"], second["status"], second["http_status"], second["mutating"]) == (
        "book",
        "http_error",
        409,
        True,
    )
    assert (await platform.refusal("GET", path, token=TENANT))[0] == 404


async def test_messages_are_listed_in_windows_with_their_total(platform: Platform) -> None:
    started = await platform.customer_writes("one", "two", "three", wa_id=customer())

    async with platform.http.get(
        f"/api/v1/conversations/{started['id']}/messages",
        params={"limit": "2", "offset": "1"},
        headers=bearer(OPERATOR),
    ) as response:
        window = await response.json()

    assert [m["content"] for m in window] == ["two", "three"]  # seed 002: an array
    assert response.headers["X-Total-Count"] == "3"


async def test_an_operator_completes_a_conversation_through_the_session(
    platform: Platform,
) -> None:
    started = await platform.customer_writes("thanks, that is all", wa_id=customer())

    async with platform.http.patch(
        f"/api/v1/conversations/{started['id']}",
        json={"status": "completed", "reason": "customer is done"},
        headers=bearer(OPERATOR),
    ) as response:
        body = await response.json()

    assert response.status == 200
    assert body == {"id": started["id"], "status": "completed"}


async def test_a_compressed_body_is_refused_and_never_inflated(platform: Platform) -> None:
    # Found by make fuzz: a plain body said to be gzip made the gateway answer 500.
    started = await platform.customer_writes("hello", wa_id=customer())

    async with platform.http.patch(
        f"/api/v1/conversations/{started['id']}",
        data=b'{"status":"completed"}',
        headers={**bearer(OPERATOR), "Content-Encoding": "gzip"},
    ) as response:
        body = await response.json()

    assert response.status == 415
    assert body["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


async def test_a_change_the_lifecycle_forbids_is_a_conflict_with_the_sessions_reason(
    platform: Platform,
) -> None:
    started = await platform.customer_writes("hello", wa_id=customer())
    path = f"/api/v1/conversations/{started['id']}"
    async with platform.http.patch(
        path, json={"status": "completed"}, headers=bearer(OPERATOR)
    ) as done:
        assert done.status == 200

    status, error = await platform.refusal("PATCH", path, json={"status": "active"})

    assert status == 409
    assert error["code"] == "FAILED_PRECONDITION"
    assert "a completed conversation cannot become active" in error["message"]


async def test_a_status_change_needs_a_status(platform: Platform) -> None:
    started = await platform.customer_writes("hello", wa_id=customer())
    path = f"/api/v1/conversations/{started['id']}"

    missing = await platform.refusal("PATCH", path, json={"reason": "no status"})
    not_json = await platform.refusal("PATCH", path, data=b"status=completed")

    assert missing == (400, {"code": "INVALID_ARGUMENT", "message": "status is required"})
    assert not_json[0] == 400 and "JSON" in not_json[1]["message"]


async def test_a_reader_token_cannot_change_a_status(platform: Platform) -> None:
    started = await platform.customer_writes("hello", wa_id=customer())

    status, error = await platform.refusal(
        "PATCH",
        f"/api/v1/conversations/{started['id']}",
        token=READER,
        json={"status": "completed"},
    )

    assert (status, error["code"]) == (403, "PERMISSION_DENIED")
    assert "write" in error["message"]


async def test_a_request_without_a_known_token_is_unauthenticated(platform: Platform) -> None:
    missing = await platform.refusal("GET", "/api/v1/conversations?page=abc", token=None)
    unknown = await platform.refusal("GET", "/api/v1/conversations", token="not-a-token")

    assert missing[0] == 401 and "Authorization" in missing[1]["message"]
    assert unknown == (401, {"code": "UNAUTHENTICATED", "message": "unknown bearer token"})


async def test_another_tenants_conversation_is_not_found(platform: Platform) -> None:
    started = await platform.customer_writes("hello", wa_id=customer())
    path = f"/api/v1/conversations/{started['id']}"

    read = await platform.refusal("GET", path, token=TENANT)
    changed = await platform.refusal("PATCH", path, token=TENANT, json={"status": "completed"})
    listed = await platform.get("/api/v1/conversations", token=TENANT)

    assert (read[0], read[1]["code"]) == (404, "NOT_FOUND")
    assert (changed[0], changed[1]["code"]) == (404, "NOT_FOUND")
    assert listed["conversations"] == []


async def test_an_unknown_conversation_is_not_found(platform: Platform) -> None:
    status, error = await platform.refusal("GET", f"/api/v1/conversations/{uuid4()}/messages")

    assert (status, error["code"]) == (404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/api/v1/conversations?page=abc", "page"),
        ("/api/v1/conversations?size=1.5", "size"),
        ("/api/v1/conversations?created_from=yesterday", "created_from"),
        ("/api/v1/conversations?last_message_to=2025-13-01", "last_message_to"),
        (f"/api/v1/conversations/{uuid4()}/messages?offset=x", "offset"),
        ("/api/v1/conversations/not-a-uuid", "conversation_id"),
        ("/api/v1/conversations?size=500", "size"),
    ],
)
async def test_a_malformed_or_out_of_range_parameter_is_refused_by_name(
    platform: Platform, path: str, parameter: str
) -> None:
    status, error = await platform.refusal("GET", path)

    assert (status, error["code"]) == (400, "INVALID_ARGUMENT")
    assert error["message"].startswith(parameter)


async def test_an_unknown_path_is_refused_in_the_same_shape(platform: Platform) -> None:
    status, error = await platform.refusal("GET", "/api/v1/contacts")

    assert (status, error["code"]) == (404, "NOT_FOUND")


async def test_the_session_status_tells_whether_the_window_is_open(platform: Platform) -> None:
    wa_id = customer()
    await platform.customer_writes("hello", wa_id=wa_id)

    status = await platform.get(f"/api/crm/{wa_id}/session-status", business_number=BUSINESS_NUMBER)

    assert status["window_active"] is True
    assert 0 < status["remaining_minutes"] <= 24 * 60
    assert status["last_inbound_at"] is not None and status["expires_at"] is not None
    assert status["templates"] == []


async def test_a_session_service_that_is_away_makes_a_status_change_unavailable(
    platform: Platform,
) -> None:
    async with AsyncExitStack() as stack:
        gateway = await start_gateway(
            GatewayConfig(
                port=0,
                ops_port=0,
                analytics_grpc_address=platform.analytics.grpc_address,
                session_grpc_address="127.0.0.1:1",
            ),
            stack,
        )
        async with aiohttp.ClientSession(f"http://127.0.0.1:{gateway.port}") as http:
            response = await http.patch(
                f"/api/v1/conversations/{uuid4()}",
                json={"status": "completed"},
                headers=bearer(OPERATOR),
            )
            error = (await response.json())["error"]

    assert (response.status, error["code"]) == (503, "UNAVAILABLE")


def test_a_time_without_an_offset_is_utc_and_a_decoded_plus_is_an_offset() -> None:
    query = Query(
        MultiDict(
            naive="2025-06-01T09:00:00", decoded="2025-06-01T11:00:00 02:00", day="2025-06-01"
        )
    )

    moments = [query.moment(name) for name in ("naive", "decoded", "day")]

    assert [m.ToDatetime(tzinfo=UTC).isoformat() for m in moments if m] == [
        "2025-06-01T09:00:00+00:00",
        "2025-06-01T09:00:00+00:00",
        "2025-06-01T00:00:00+00:00",
    ]


def test_a_number_beyond_what_the_api_carries_is_refused() -> None:
    with pytest.raises(BadRequest, match="page is out of range"):
        Query(MultiDict(page=str(2**40))).integer("page")


# Hostile and broken requests (issue 8): a 4xx naming what is wrong, never a 5xx -------------


def encoded_url(platform: Platform, path: str) -> URL:
    """The gateway's URL for `path` exactly as written (its percent-escapes kept)."""
    return URL(f"http://127.0.0.1:{platform.gateway.port}{path}", encoded=True)


async def raw_request(
    platform: Platform, method: str, path: str, *, token: str = OPERATOR, **options: Any
) -> tuple[int, Json]:
    """Status and error of a request whose path is sent as written (already encoded)."""
    async with platform.http.request(
        method, encoded_url(platform, path), headers=bearer(token), **options
    ) as response:
        body = await response.json()
        return response.status, body.get("error", body)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b"[" * 5000, "the body nests deeper than"),
        (b'{"status": ' * 20 + b"1" + b"}" * 20, "the body nests deeper than"),
        (b'{"status": "\\ud800"}', "status must be valid Unicode"),
        (b'{"status": "completed", "reason": "\\udfff"}', "reason must be valid Unicode"),
        (b'{"status": "a\\u0000"}', "status must not contain NUL"),
        (b'{"status": 5}', "status must be a string"),
        (b'{"status": NaN}', "the body is not valid JSON"),
        (b"\xff\xfe", "the body is not valid UTF-8"),
        (b"[]", "the body must be a JSON object"),
        (b'"completed"', "the body must be a JSON object"),
        (b"null", "the body must be a JSON object"),
        (b"", "the body must be a JSON object, and is empty"),
        (b'{"status": "' + b"s" * 40 + b'"}', "status must be one of"),
        (b'{"status": "completed", "reason": "' + b"r" * 2000 + b'"}', "reason is too long"),
    ],
)
async def test_a_malformed_status_change_is_refused_naming_what_is_wrong(
    platform: Platform, body: bytes, named: str
) -> None:
    status, error = await platform.refusal("PATCH", f"/api/v1/conversations/{uuid4()}", data=body)

    assert (status, error["code"]) == (400, "INVALID_ARGUMENT"), error
    assert error["message"].startswith(named), error["message"]


async def test_a_body_over_the_limit_is_too_large(platform: Platform) -> None:
    body = b'{"status": "completed", "reason": "' + b"r" * 100_000 + b'"}'

    status, error = await platform.refusal("PATCH", f"/api/v1/conversations/{uuid4()}", data=body)

    assert (status, error["code"]) == (413, "PAYLOAD_TOO_LARGE")


LIST_TEXT = ("lead_id", "status", "channel", "business_number", "customer_phone", "assistant")
LIST_NUMBERS = ("page", "size")
LIST_TIMES = ("created_from", "created_to", "last_message_from", "last_message_to")


@pytest.mark.parametrize("value", ["%00", "a%00b", "x" * 3000])
@pytest.mark.parametrize("parameter", LIST_TEXT + LIST_NUMBERS + LIST_TIMES)
async def test_every_listing_parameter_with_nul_or_a_huge_value_is_refused_by_name(
    platform: Platform, parameter: str, value: str
) -> None:
    status, error = await raw_request(platform, "GET", f"/api/v1/conversations?{parameter}={value}")

    assert (status, error["code"]) == (400, "INVALID_ARGUMENT"), error
    assert error["message"].startswith(parameter), error["message"]
    assert len(error["message"]) < 300


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("page=99999999999999999999", "page is out of range"),
        ("page=" + "9" * 5000, "page must be a whole number"),
        ("size=1000000", "size must be between"),
        ("size=-1", "size must be between"),
        ("page=-3", "page must be 1 or more"),
        ("created_from=0001-01-01T00:00:00%2B01:00", "created_from must be an ISO-8601"),
        ("created_to=9999-12-31T23:59:59-01:00", "created_to must be an ISO-8601"),
        ("last_message_from=2025-02-30", "last_message_from must be an ISO-8601"),
        ("created_from=2025-06-02&created_to=2025-06-01", "created_from must be before"),
        ("lead_id=%ED%A0%80", "lead_id must be a UUID"),
        ("customer_phone=abc", "customer_phone must contain digits"),
    ],
)
async def test_bad_numbers_and_dates_are_refused_by_name(
    platform: Platform, query: str, named: str
) -> None:
    status, error = await raw_request(platform, "GET", f"/api/v1/conversations?{query}")

    assert (status, error["code"]) == (400, "INVALID_ARGUMENT"), error
    assert error["message"].startswith(named), error["message"]


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("/api/v1/conversations/%00", "conversation_id must not contain NUL"),
        ("/api/v1/conversations/" + "9" * 3000, "conversation_id is too long"),
        (f"/api/v1/conversations/{uuid4()}/messages?limit=100000", "limit must be between"),
        (f"/api/v1/conversations/{uuid4()}/messages?offset=-1", "offset must be 0 or more"),
        (f"/api/v1/conversations/{uuid4()}/messages?limit=%00", "limit must not contain NUL"),
        ("/api/crm/%00/session-status?business_number=pn", "customer must not contain NUL"),
        ("/api/crm/1555/session-status?business_number=%00", "business_number must not"),
        ("/api/crm/1555/session-status?business_number=" + "n" * 100, "business_number is too"),
        ("/api/crm/" + "1" * 200 + "/session-status?business_number=pn", "customer is too long"),
    ],
)
async def test_bad_paths_and_their_parameters_are_refused_by_name(
    platform: Platform, path: str, named: str
) -> None:
    status, error = await raw_request(platform, "GET", path)

    assert (status, error["code"]) == (400, "INVALID_ARGUMENT"), error
    assert error["message"].startswith(named), error["message"]


async def test_ids_that_are_not_a_visible_conversation_are_not_found_alike(
    platform: Platform,
) -> None:
    started = await platform.customer_writes("hello", wa_id=customer())
    wa_id = started["lead"]["wa_id"]
    not_conversations = [
        started["lead_id"],
        str(contact_key_id(BUSINESS_NUMBER, f"wa:{wa_id}")),
        str(business_number_id(BUSINESS_NUMBER)),
        str(uuid4()),
    ]

    for token, ids in (
        (TENANT, [started["id"], *not_conversations]),
        (OPERATOR, not_conversations),
    ):
        for some_id in ids:
            path = f"/api/v1/conversations/{some_id}"
            read = await platform.refusal("GET", path, token=token)
            listed = await platform.refusal("GET", f"{path}/messages", token=token)
            changed = await platform.refusal(
                "PATCH", path, token=token, json={"status": "completed"}
            )

            assert read == listed == (404, {"code": "NOT_FOUND", "message": read[1]["message"]})
            assert read[1]["message"] == f"conversation {some_id} not found"
            assert changed == (
                404,
                {"code": "NOT_FOUND", "message": f"conversation {some_id} was not found"},
            )


QUERY_NAMES = st.sampled_from([*LIST_TEXT, *LIST_NUMBERS, *LIST_TIMES, "other"])
QUERY_VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["%00", "%ED%A0%80", "-1", "1e999", "2025-06-01", "NaN", "9" * 40]),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(params=st.lists(st.tuples(QUERY_NAMES, QUERY_VALUES), max_size=4))
async def test_no_listing_query_ends_in_a_server_error(
    platform: Platform, params: list[tuple[str, str]]
) -> None:
    async with platform.http.get(
        "/api/v1/conversations", params=params, headers=bearer(OPERATOR)
    ) as response:
        body = await response.json()

    assert response.status < 500, body
    assert response.status == 200 or body["error"]["message"]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(
        st.binary(max_size=200),
        JSON_VALUES.map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries({"status": JSON_VALUES, "reason": JSON_VALUES}).map(
            lambda v: json.dumps(v).encode()
        ),
        st.text(max_size=50).map(
            lambda t: json.dumps({"status": t}, ensure_ascii=False).encode("utf-8", "surrogatepass")
        ),
    ),
    conversation=st.one_of(st.uuids().map(str), st.text(max_size=20)),
)
async def test_no_status_change_ends_in_a_server_error(
    platform: Platform, body: bytes, conversation: str
) -> None:
    path = f"/api/v1/conversations/{quote(conversation, safe='')}"
    async with platform.http.patch(
        encoded_url(platform, path),
        data=body,
        headers=bearer(OPERATOR),
    ) as response:
        answer = await response.json()

    assert response.status < 500, answer
