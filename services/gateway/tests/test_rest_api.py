"""The REST API of issue 13 over real session, analytics, NATS and PostgreSQL: seed 002's and
seed 000's shapes field by field, strict parameters, the endpoints beyond the seed
(messages, hand-off, autopilot, settings, metrics, export, templates, assistants, flows),
`Idempotency-Key` on POSTs, CORS, and every answer checked against the OpenAPI document's
schema for it."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import uuid4

import grpc
import jsonschema  # type: ignore[import-untyped]
from aiohttp import web

from threadline.contracts.events.v1 import common_pb2, ingest_pb2
from threadline.gateway.adapters.inbound.http.app import gateway_app
from threadline.gateway.adapters.inbound.http.openapi import operation_of
from threadline.gateway.adapters.outbound.upstreams import Upstream, Upstreams
from threadline.media import FilesystemMediaStore
from threadline.messaging.topology import INBOUND_MESSAGE_RECEIVED
from threadline.testing import eventually


def _sibling(name: str) -> ModuleType:
    """A test module of this folder, loaded by path (test folders are not packages)."""
    spec = importlib.util.spec_from_file_location(
        f"gateway_{name}", Path(__file__).with_name(f"{name}.py")
    )
    assert spec is not None and spec.loader is not None
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # for dataclasses
    spec.loader.exec_module(module)
    return module


# Session, analytics and the gateway over real NATS and PostgreSQL (`test_http_api.py`'s).
_HTTP_API = _sibling("test_http_api")
platform = _HTTP_API.platform
customer = _HTTP_API.customer
bearer = _HTTP_API.bearer
BUSINESS_NUMBER: str = _HTTP_API.BUSINESS_NUMBER
OPERATOR: str = _HTTP_API.OPERATOR
READER: str = _HTTP_API.READER
ADMIN: str = _HTTP_API.ADMIN
CONSOLE_ORIGIN: str = _HTTP_API.CONSOLE_ORIGIN
Platform = Any
Json = dict[str, Any]
REPO = Path(__file__).resolve().parents[3]

SEED_CONVERSATION = {
    *("id", "lead_id", "session_key", "channel", "status", "message_count", "created_at"),
    *("updated_at", "lead", "last_message_at", "last_message_preview", "business_number"),
}
SEED_MESSAGE = {"id", "conversation_id", "role", "type", "content", "status", "metadata"}
SEED_TEMPLATE = {"id", "name", "language", "body", "param_count"}


async def document(platform: Platform) -> Json:
    async with platform.http.get("/api/openapi.json") as response:
        assert response.status == 200
        found: Json = await response.json()
        return found


def conforms(doc: Json, component: str, value: Any, *, array: bool = False) -> None:
    """`value` is what the document says `component` (or an array of it) is."""
    schema: Json = {"$ref": f"#/components/schemas/{component}"}
    if array:
        schema = {"type": "array", "items": schema}
    jsonschema.validate(
        value,
        {**schema, "components": doc["components"]},
        cls=jsonschema.Draft202012Validator,
    )


async def call(
    platform: Platform,
    method: str,
    path: str,
    *,
    token: str = OPERATOR,
    headers: dict[str, str] | None = None,
    **options: Any,
) -> tuple[int, Any]:
    async with platform.http.request(
        method, path, headers={**bearer(token), **(headers or {})}, **options
    ) as response:
        return response.status, await response.json()


async def inbound(platform: Platform, wa_id: str, text: str, *, sent: datetime) -> None:
    """A customer's message as ingest publishes it, sent at `sent`."""
    fact = ingest_pb2.InboundMessageReceived(
        wamid=f"wamid.{uuid4().hex}",
        phone_number_id=BUSINESS_NUMBER,
        customer=common_pb2.CustomerIdentity(wa_id=wa_id, profile_name="Ana"),
        content=common_pb2.MessageContent(type="text", text=text),
    )
    fact.sent_at.FromDatetime(sent)
    fact.received_at.FromDatetime(sent)
    subject = platform.topology.publish_subject(
        INBOUND_MESSAGE_RECEIVED, phone_number_id=BUSINESS_NUMBER
    )
    await platform.js.publish(
        subject, fact.SerializeToString(), headers={"Nats-Msg-Id": fact.wamid}
    )


# The document -------------------------------------------------------------------------------


async def test_every_route_served_is_in_the_openapi_document(platform: Platform) -> None:
    doc = await document(platform)
    channel = grpc.aio.insecure_channel("127.0.0.1:9")  # never called: the router is read
    nowhere = Upstream("nowhere", "127.0.0.1:9", "", channel)
    app = gateway_app(Upstreams.of(nowhere, nowhere, nowhere), FilesystemMediaStore(REPO))
    await channel.close()

    # Every route but Swagger UI's static files (/api/docs/<file>) is described by its handler.
    routes = [
        route
        for route in app.router.routes()
        if route.method != "HEAD" and not isinstance(route.resource, web.StaticResource)
    ]
    served = {
        (route.resource.canonical, route.method.lower()) for route in routes if route.resource
    }
    undescribed = sorted(
        f"{r.method} {r.resource.canonical}"
        for r in routes
        if r.resource and operation_of(r.handler) is None
    )

    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert doc["openapi"] == "3.1.0"
    assert undescribed == []
    assert served == documented, served ^ documented
    for path, method in served:
        operation = doc["paths"][path][method]
        assert operation["summary"] and operation["tags"] != ["other"], (path, method)
        assert any(code.startswith("2") for code in operation["responses"]), (path, method)
    assert "other" not in {tag["name"] for tag in doc["tags"]}
    assert {"/", "/api/v1/events", "/api/v1/tokens", "/api/docs/start.js"} <= set(doc["paths"])
    assert doc["paths"]["/api/v1/tokens"]["get"]["parameters"][0]["name"] == "include_revoked"
    assert doc["paths"]["/api/v1/events"]["get"]["responses"]["200"]["content"].keys() == {
        "text/event-stream"
    }
    assert doc["paths"]["/"]["get"]["security"] == []  # the console's page needs no token


async def test_the_interactive_docs_are_served_from_the_gateway_alone(platform: Platform) -> None:
    async with platform.http.get("/api/docs") as page:
        html = await page.text()
    scripts = [line for line in html.splitlines() if "src=" in line or "href=" in line]
    async with platform.http.get("/api/docs/swagger-ui-bundle.js") as bundle:
        size = len(await bundle.read())
    async with platform.http.get("/api/docs/start.js") as start:
        started = await start.text()

    assert page.status == 200 and "swagger-ui" in html
    assert scripts and not any("http://" in s or "https://" in s for s in scripts)
    assert bundle.status == 200 and size > 100_000
    assert "/api/openapi.json" in started


# Seed 002 and seed 000 -----------------------------------------------------------------------


async def test_the_list_and_the_messages_have_seed_002s_shape(platform: Platform) -> None:
    doc = await document(platform)
    wa_id = customer()
    started = await platform.customer_writes("hello", "a second one", wa_id=wa_id)

    status, page = await call(platform, "GET", "/api/v1/conversations", params={"size": "5"})
    status_messages, messages = await call(
        platform, "GET", f"/api/v1/conversations/{started['id']}/messages"
    )

    assert status == status_messages == 200
    assert set(page) == {"conversations", "total", "page", "size"}
    assert (page["total"], page["page"], page["size"]) == (1, 1, 5)
    conforms(doc, "ConversationPage", page)
    listed = page["conversations"][0]
    assert set(listed) >= SEED_CONVERSATION
    assert (listed["id"], listed["channel"], listed["status"]) == (
        started["id"],
        "whatsapp",
        "active",
    )
    assert (listed["message_count"], listed["last_message_preview"]) == (2, "a second one")
    assert listed["business_number"] == BUSINESS_NUMBER
    lead = listed["lead"]
    assert (lead["id"], lead["phone"], lead["name"], lead["email"]) == (
        listed["lead_id"],
        wa_id,
        "Ana",
        "",
    )
    assert isinstance(messages, list) and len(messages) == 2
    conforms(doc, "Message", messages, array=True)
    first = messages[0]
    assert set(first) >= SEED_MESSAGE
    assert (first["conversation_id"], first["role"], first["type"], first["content"]) == (
        started["id"],
        "user",
        "text",
        "hello",
    )
    status, whole = await call(platform, "GET", f"/api/v1/conversations/{started['id']}")
    conforms(doc, "ConversationWithMessages", whole)
    assert [m["id"] for m in whole["messages"]] == [m["id"] for m in messages]


async def test_the_session_status_has_seed_000s_shape_with_the_templates_when_closed(
    platform: Platform,
) -> None:
    doc = await document(platform)
    wa_id = customer()
    registered = await call(
        platform,
        "POST",
        "/api/v1/templates",
        token=ADMIN,
        json={
            "phone_number_id": BUSINESS_NUMBER,
            "name": "appointment_reminder",
            "language": "en",
            "category": "UTILITY",
            "body": "Hi {{1}}, see you on {{2}}.",
        },
    )
    await inbound(platform, wa_id, "hello", sent=datetime.now(UTC) - timedelta(hours=25))

    async def projected() -> bool:
        found = await platform.get("/api/v1/conversations", customer_phone=wa_id)
        return bool(found["conversations"])

    await eventually(projected, timeout=15)
    status, window = await call(platform, "GET", f"/api/crm/{wa_id}/session-status")

    assert registered[0] == 201
    assert status == 200, window
    conforms(doc, "SessionStatus", window)
    assert window["window_active"] is False and window["remaining_minutes"] == 0
    assert window["business_number"] == BUSINESS_NUMBER  # found: the customer's only number
    assert window["conversation_id"]
    template = next(t for t in window["templates"] if t["name"] == "appointment_reminder")
    assert set(template) >= SEED_TEMPLATE
    assert (template["id"], template["language"], template["param_count"]) == (
        "appointment_reminder:en",
        "en",
        2,
    )
    assert template["body"] == "Hi {{1}}, see you on {{2}}."


async def test_a_customer_nobody_knows_has_no_session_status(platform: Platform) -> None:
    status, body = await call(platform, "GET", f"/api/crm/{customer()}/session-status")

    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")


# Strict parameters --------------------------------------------------------------------------


async def test_unknown_statuses_filters_and_parameters_are_refused_by_name(
    platform: Platform,
) -> None:
    refusals = [
        await call(platform, "GET", "/api/v1/conversations", params={"status": "weird"}),
        await call(platform, "GET", "/api/v1/conversations", params={"channel": "fax"}),
        await call(platform, "GET", "/api/v1/conversations", params={"colour": "red"}),
        await call(platform, "GET", "/api/v1/metrics", params={"status": "weird"}),
        await call(platform, "PATCH", f"/api/v1/conversations/{uuid4()}", json={"status": "bogus"}),
        await call(platform, "GET", "/api/v1/conversations/export", params={"format": "xml"}),
    ]

    assert [status for status, _ in refusals] == [400] * len(refusals)
    messages = [body["error"]["message"] for _, body in refusals]
    assert messages[0].startswith("status must be one of active, escalated")
    assert messages[1].startswith("channel must be one of whatsapp, test")
    assert messages[2].startswith("'colour': unknown query parameter")
    assert messages[3].startswith("status must be one of")
    assert messages[4].startswith("status must be one of active, escalated, completed, abandoned")
    assert messages[5].startswith("format must be one of csv, jsonl")


# Beyond the seed ----------------------------------------------------------------------------


async def test_an_operator_sends_text_interactive_and_template_messages(
    platform: Platform,
) -> None:
    started = await platform.customer_writes("hello", wa_id=customer())
    path = f"/api/v1/conversations/{started['id']}/messages"
    buttons = {
        "type": "button",
        "body": {"text": "Which day?"},
        "action": {"buttons": [{"type": "reply", "reply": {"id": "mon", "title": "Monday"}}]},
    }

    text = await call(platform, "POST", path, json={"type": "text", "text": "Hi Ana"})
    interactive = await call(
        platform, "POST", path, json={"type": "interactive", "interactive": buttons}
    )
    unknown = await call(
        platform,
        "POST",
        path,
        json={
            "type": "template",
            "template": {"name": "never_registered", "language": "en", "parameters": []},
        },
    )
    bad = await call(platform, "POST", path, json={"type": "sticker"})

    assert text[0] == interactive[0] == 202
    assert text[1]["conversation_id"] == started["id"]
    assert text[1]["message_id"] != interactive[1]["message_id"]
    assert unknown[0] in (404, 409) and "never_registered" in unknown[1]["error"]["message"]
    assert bad[0] == 400 and bad[1]["error"]["message"].startswith("type must be one of")

    async def listed() -> bool:
        _, messages = await call(platform, "GET", path)
        return [m["content"] for m in messages if m["role"] == "assistant"][:1] == ["Hi Ana"]

    await eventually(listed, timeout=15)


async def test_a_retried_post_with_the_same_idempotency_key_sends_once(
    platform: Platform,
) -> None:
    started = await platform.customer_writes("hello", wa_id=customer())
    path = f"/api/v1/conversations/{started['id']}/messages"
    key = {"Idempotency-Key": f"retry-{uuid4()}"}

    first = await call(platform, "POST", path, headers=key, json={"type": "text", "text": "once"})
    again = await call(platform, "POST", path, headers=key, json={"type": "text", "text": "once"})
    other = await call(platform, "POST", path, headers=key, json={"type": "text", "text": "two"})

    assert first == again and first[0] == 202
    assert other[0] == 409 and "Idempotency-Key" in other[1]["error"]["message"]

    async def recorded() -> bool:
        _, messages = await call(platform, "GET", path)
        return len(messages) == 2

    await eventually(recorded, timeout=15)
    _, messages = await call(platform, "GET", path)
    assert [m["content"] for m in messages] == ["hello", "once"]


async def test_an_operator_hands_off_and_resumes(platform: Platform) -> None:
    doc = await document(platform)
    started = await platform.customer_writes("I want a human", wa_id=customer())
    path = f"/api/v1/conversations/{started['id']}"

    handed = await call(platform, "POST", f"{path}/hand-off", json={"reason": "asked"})
    resumed = await call(platform, "POST", f"{path}/resume")
    reader = await call(platform, "POST", f"{path}/hand-off", token=READER)

    assert handed == (200, {"id": started["id"], "status": "escalated"})
    assert resumed == (200, {"id": started["id"], "status": "active"})
    conforms(doc, "ConversationStatus", handed[1])
    assert reader[0] == 403


async def test_an_admin_sets_a_numbers_autopilot_and_auto_resolution(platform: Platform) -> None:
    number = f"/api/v1/numbers/{BUSINESS_NUMBER}"

    off = await call(platform, "PUT", f"{number}/autopilot", token=ADMIN, json={"enabled": False})
    hours = await call(
        platform, "PUT", f"{number}/auto-resolution", token=ADMIN, json={"hours": 48}
    )
    too_many = await call(
        platform, "PUT", f"{number}/auto-resolution", token=ADMIN, json={"hours": 100_000}
    )
    operator = await call(platform, "PUT", f"{number}/autopilot", json={"enabled": True})
    not_a_flag = await call(platform, "PUT", f"{number}/autopilot", token=ADMIN, json={})

    assert off == (200, {"phone_number_id": BUSINESS_NUMBER, "enabled": False})
    assert hours == (200, {"phone_number_id": BUSINESS_NUMBER, "hours": 48})
    assert (
        too_many[0] == 400 and "hours must be between 1 and 720" in too_many[1]["error"]["message"]
    )
    assert operator[0] == 403
    assert not_a_flag[0] == 400


async def test_metrics_and_the_export_follow_the_lists_filters(platform: Platform) -> None:
    doc = await document(platform)
    ana = await platform.customer_writes("hello", wa_id=customer())
    await platform.customer_writes("hi", wa_id=customer(), number=_HTTP_API.OTHER_NUMBER)

    status, metrics = await call(
        platform, "GET", "/api/v1/metrics", params={"business_number": BUSINESS_NUMBER}
    )
    async with platform.http.get(
        "/api/v1/conversations/export",
        params={"business_number": BUSINESS_NUMBER, "format": "csv"},
        headers=bearer(OPERATOR),
    ) as response:
        exported = await response.text()
        csv_headers = response.headers
    async with platform.http.get(
        "/api/v1/conversations/export",
        params={"format": "jsonl", "include_messages": "true"},
        headers=bearer(OPERATOR),
    ) as response:
        lines = [json.loads(line) for line in (await response.text()).splitlines() if line]

    assert status == 200
    conforms(doc, "Metrics", metrics)
    assert metrics["total_conversations"] == 1
    assert csv_headers["Content-Type"].startswith("text/csv")
    assert "conversations.csv" in csv_headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [row["id"] for row in rows] == [ana["id"]]
    assert len(lines) >= 2 and ana["id"] in json.dumps(lines)


async def test_assistants_and_flows_are_applied_from_their_files_and_listed(
    platform: Platform,
) -> None:
    doc = await document(platform)
    assistant = (
        "name: front-desk\nmodel: offline\nsystem_prompt: Answer kindly.\nlanguage: en\n"
        f"reply_delay_seconds: 0.5\nbusiness_numbers: [{BUSINESS_NUMBER}]\n"
    )
    flow = (REPO / "examples/salon/booking-flow.yaml").read_text(encoding="utf-8")

    applied = await call(
        platform,
        "PUT",
        "/api/v1/assistants",
        token=ADMIN,
        data=assistant.encode(),
        headers={"Content-Type": "application/yaml"},
    )
    again = await call(platform, "PUT", "/api/v1/assistants", token=ADMIN, data=assistant.encode())
    flow_applied = await call(platform, "PUT", "/api/v1/flows", token=ADMIN, data=flow.encode())
    assistants = await call(
        platform, "GET", "/api/v1/assistants", params={"phone_number_id": BUSINESS_NUMBER}
    )
    flows = await call(platform, "GET", "/api/v1/flows")
    broken = await call(platform, "PUT", "/api/v1/flows", token=ADMIN, data=b"id: x\nsteps: 3\n")
    laughs = b"a: &a [x, x]\nb: &b [*a, *a]\nname: *b\n"
    aliased = await call(platform, "PUT", "/api/v1/assistants", token=ADMIN, data=laughs)
    not_admin = await call(platform, "PUT", "/api/v1/assistants", data=assistant.encode())

    assert applied[0] == 200, applied
    conforms(doc, "AssistantApplied", applied[1])
    assert (applied[1]["created"], again[1]["created"], again[1]["changed"]) == (True, False, False)
    assert applied[1]["assistant"]["reply_delay_seconds"] == 0.5
    assert flow_applied[0] == 200, flow_applied
    conforms(doc, "FlowApplied", flow_applied[1])
    assert flow_applied[1]["flow"]["id"] == "salon-booking"
    conforms(doc, "AssistantList", assistants[1])
    assert [a["name"] for a in assistants[1]["assistants"]] == ["front-desk"]
    conforms(doc, "FlowList", flows[1])
    assert "salon-booking" in [f["id"] for f in flows[1]["flows"]]
    assert broken[0] == 400
    assert aliased[0] == 400 and "aliases" in aliased[1]["error"]["message"]
    assert not_admin[0] == 403


async def test_templates_are_registered_and_listed(platform: Platform) -> None:
    doc = await document(platform)
    template = {
        "phone_number_id": BUSINESS_NUMBER,
        "name": "order_ready",
        "language": "pt_BR",
        "category": "utility",
        "body": "Seu pedido {{1}} está pronto.",
    }

    created = await call(platform, "POST", "/api/v1/templates", token=ADMIN, json=template)
    status, listed = await call(
        platform, "GET", "/api/v1/templates", params={"phone_number_id": BUSINESS_NUMBER}
    )
    missing = await call(platform, "GET", "/api/v1/templates")

    assert created == (
        201,
        {
            "id": "order_ready:pt_BR",
            "name": "order_ready",
            "language": "pt_BR",
            "category": "UTILITY",
            "body": "Seu pedido {{1}} está pronto.",
            "param_count": 1,
        },
    )
    assert status == 200 and created[1] in listed["templates"]
    conforms(doc, "TemplateList", listed)
    assert missing[0] == 400 and missing[1]["error"]["message"].startswith("phone_number_id")


async def test_a_page_of_a_configured_origin_may_call_the_api(platform: Platform) -> None:
    async with platform.http.options(
        "/api/v1/conversations",
        headers={"Origin": CONSOLE_ORIGIN, "Access-Control-Request-Method": "GET"},
    ) as preflight:
        allowed = dict(preflight.headers)
    async with platform.http.get(
        "/api/v1/conversations", headers={**bearer(OPERATOR), "Origin": CONSOLE_ORIGIN}
    ) as answer:
        answered = dict(answer.headers)
    async with platform.http.get(
        "/api/v1/conversations", headers={**bearer(OPERATOR), "Origin": "http://elsewhere"}
    ) as other:
        elsewhere = dict(other.headers)

    assert preflight.status == 204
    assert allowed["Access-Control-Allow-Origin"] == CONSOLE_ORIGIN
    assert "Authorization" in allowed["Access-Control-Allow-Headers"]
    assert "PUT" in allowed["Access-Control-Allow-Methods"]
    assert answered["Access-Control-Allow-Origin"] == CONSOLE_ORIGIN
    assert "Access-Control-Allow-Origin" not in elsewhere
