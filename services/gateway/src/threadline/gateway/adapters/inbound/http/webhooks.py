"""Outgoing webhook subscriptions through the REST API (issue 13 item 5), role admin:
`GET /api/v1/webhooks` lists them (`?phone_number_id=`: that number's and those on "*"),
`PUT /api/v1/webhooks/{id}` creates or replaces one, `DELETE /api/v1/webhooks/{id}` removes it.
The session keeps them (`ConfigureWebhookSubscription`, `ListWebhookSubscriptions`) and checks
every field; the gateway's delivery (`webhook_delivery`) POSTs what they ask for. The signing
secret is never sent here: `secret_ref` names the gateway's environment variable holding it."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field

from threadline.contracts.session.v1 import session_pb2
from threadline.gateway.adapters.inbound.http.errors import BadRequest
from threadline.gateway.adapters.inbound.http.openapi import Answer, Operation, Parameter, described
from threadline.gateway.adapters.inbound.http.params import (
    Query,
    credentials,
    json_object,
    path_text,
    required_text,
)
from threadline.gateway.adapters.inbound.http.routes import DEADLINE_SECONDS, UPSTREAMS
from threadline.gateway.adapters.inbound.http.schemas import Shape

webhook_routes = web.RouteTableDef()
EVENTS = (
    "conversation.escalated",
    "conversation.ai_failed",
    "customer.waiting",
    "message.received",
)


class WebhookSubscriptionBody(Shape):
    phone_number_id: str = Field(description="the business number whose events it receives, or *")
    url: str = Field(description="where the notifications are POSTed (http or https)")
    secret_ref: str = Field(
        description="the NAME of the gateway's environment variable holding the signing secret"
    )
    events: list[str] = Field(description=f"any of {', '.join(EVENTS)}")
    enabled: bool = True


class WebhookSubscriptionJson(WebhookSubscriptionBody):
    id: str
    version: int


class WebhookSubscriptionList(Shape):
    webhooks: list[WebhookSubscriptionJson]


class WebhookSubscriptionApplied(Shape):
    webhook: WebhookSubscriptionJson
    created: bool
    changed: bool


def webhook_json(subscription: session_pb2.WebhookSubscription) -> dict[str, Any]:
    return {
        "id": subscription.subscription_id,
        "phone_number_id": subscription.phone_number_id,
        "url": subscription.url,
        "secret_ref": subscription.secret_ref,
        "events": list(subscription.events),
        "enabled": subscription.enabled,
        "version": subscription.version,
    }


def applied_json(reply: session_pb2.ConfigureWebhookSubscriptionResponse) -> dict[str, Any]:
    return {
        "webhook": webhook_json(reply.subscription),
        "created": reply.created,
        "changed": reply.changed,
    }


@webhook_routes.get("/api/v1/webhooks")
@described(
    Operation(
        "The outgoing webhook subscriptions on the token's numbers (role admin)",
        "webhooks",
        query=(Parameter("phone_number_id", "only this number's, and those on *"),),
        answers={200: Answer("The subscriptions", WebhookSubscriptionList)},
    )
)
async def list_webhooks(request: web.Request) -> web.Response:
    metadata = credentials(request)
    number = Query.of(request).text("phone_number_id")
    reply = await request.app[UPSTREAMS].commands.ListWebhookSubscriptions(
        session_pb2.ListWebhookSubscriptionsRequest(phone_number_id=number),
        metadata=metadata,
        timeout=DEADLINE_SECONDS,
    )
    return web.json_response({"webhooks": [webhook_json(s) for s in reply.subscriptions]})


@webhook_routes.put("/api/v1/webhooks/{id}")
@described(
    Operation(
        "Create or replace an outgoing webhook subscription (role admin)",
        "webhooks",
        body=WebhookSubscriptionBody,
        answers={
            200: Answer("The subscription as the session keeps it", WebhookSubscriptionApplied)
        },
    )
)
async def put_webhook(request: web.Request) -> web.Response:
    """The subscription by its id: the same configuration again changes nothing (`changed`
    false); the session names a field out of its rules (400)."""
    metadata = credentials(request)
    Query.of(request)
    subscription_id = path_text(request, "id", "subscription_id")
    body = await json_object(request)
    unknown = sorted(set(body) - set(WebhookSubscriptionBody.model_fields))
    if unknown:
        raise BadRequest(f"unknown field {unknown[0][:64]!r}")
    events = body.get("events")
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        raise BadRequest("events must be a list of event names")
    enabled = body.get("enabled", True)
    if not isinstance(enabled, bool):
        raise BadRequest("enabled must be true or false")
    reply = await request.app[UPSTREAMS].commands.ConfigureWebhookSubscription(
        session_pb2.ConfigureWebhookSubscriptionRequest(
            subscription=session_pb2.WebhookSubscription(
                subscription_id=subscription_id,
                phone_number_id=required_text(body, "phone_number_id"),
                url=required_text(body, "url"),
                secret_ref=required_text(body, "secret_ref"),
                events=events,
                enabled=enabled,
            )
        ),
        metadata=metadata,
        timeout=DEADLINE_SECONDS,
    )
    return web.json_response(applied_json(reply))


@webhook_routes.delete("/api/v1/webhooks/{id}")
@described(
    Operation(
        "Remove an outgoing webhook subscription (role admin)",
        "webhooks",
        answers={200: Answer("The subscription as removed", WebhookSubscriptionApplied)},
    )
)
async def delete_webhook(request: web.Request) -> web.Response:
    """Nothing more is sent for it; removing it again changes nothing (404 when the token does
    not see it)."""
    metadata = credentials(request)
    Query.of(request)
    subscription_id = path_text(request, "id", "subscription_id")
    reply = await request.app[UPSTREAMS].commands.ConfigureWebhookSubscription(
        session_pb2.ConfigureWebhookSubscriptionRequest(
            subscription=session_pb2.WebhookSubscription(subscription_id=subscription_id),
            remove=True,
        ),
        metadata=metadata,
        timeout=DEADLINE_SECONDS,
    )
    return web.json_response(applied_json(reply))
