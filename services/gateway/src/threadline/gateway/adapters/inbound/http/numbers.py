"""The REST API's business number endpoints: a number's registered templates (listed and
registered), its autopilot and its auto-resolution threshold, each one session call,
described for the OpenAPI document."""

from __future__ import annotations

from aiohttp import web

from threadline.contracts.session.v1 import session_pb2
from threadline.gateway.adapters.inbound.http import schemas
from threadline.gateway.adapters.inbound.http.errors import BadRequest
from threadline.gateway.adapters.inbound.http.openapi import Answer, Operation, Parameter, described
from threadline.gateway.adapters.inbound.http.params import (
    INT32_MAX,
    Query,
    credentials,
    json_object,
    path_text,
    required_text,
)
from threadline.gateway.adapters.inbound.http.routes import DEADLINE_SECONDS, UPSTREAMS
from threadline.gateway.adapters.inbound.http.shapes import template_json

number_routes = web.RouteTableDef()


@number_routes.get("/api/v1/templates")
@described(
    Operation(
        "The templates registered for a business number",
        "templates",
        query=(Parameter("phone_number_id", "the business number", required=True),),
        answers={200: Answer("Its templates", schemas.TemplateList)},
    )
)
async def list_templates(request: web.Request) -> web.Response:
    metadata = credentials(request)
    number = Query.of(request).text("phone_number_id")
    if not number:
        raise BadRequest("phone_number_id is required: the business number")
    reply = await request.app[UPSTREAMS].commands.ListTemplates(
        session_pb2.ListTemplatesRequest(phone_number_id=number),
        metadata=metadata,
        timeout=DEADLINE_SECONDS,
    )
    return web.json_response({"templates": [template_json(t) for t in reply.templates]})


@number_routes.post("/api/v1/templates")
@described(
    Operation(
        "Register a template for a business number (role admin)",
        "templates",
        body=schemas.TemplateRegistration,
        answers={201: Answer("The template", schemas.Template)},
        idempotent_post=True,
    )
)
async def register_template(request: web.Request) -> web.Response:
    metadata = credentials(request)
    Query.of(request)
    body = await json_object(request)
    reply = await request.app[UPSTREAMS].commands.RegisterTemplate(
        session_pb2.RegisterTemplateRequest(
            phone_number_id=required_text(body, "phone_number_id"),
            name=required_text(body, "name"),
            language=required_text(body, "language"),
            category=required_text(body, "category"),
            body=required_text(body, "body"),
        ),
        metadata=metadata,
        timeout=DEADLINE_SECONDS,
    )
    return web.json_response(template_json(reply), status=201)


@number_routes.put("/api/v1/numbers/{phone_number_id}/autopilot")
@described(
    Operation(
        "Switch the AI on or off for a business number (role admin)",
        "numbers",
        body=schemas.Autopilot,
        answers={200: Answer("The number's autopilot", schemas.AutopilotSet)},
    )
)
async def set_autopilot(request: web.Request) -> web.Response:
    metadata = credentials(request)
    Query.of(request)
    body = await json_object(request)
    enabled = body.get("enabled")
    if not isinstance(enabled, bool):
        raise BadRequest("enabled must be true or false")
    reply = await request.app[UPSTREAMS].commands.SetAutopilot(
        session_pb2.SetAutopilotRequest(
            phone_number_id=path_text(request, "phone_number_id", "phone_number_id"),
            enabled=enabled,
        ),
        metadata=metadata,
        timeout=DEADLINE_SECONDS,
    )
    return web.json_response({"phone_number_id": reply.phone_number_id, "enabled": reply.enabled})


@number_routes.put("/api/v1/numbers/{phone_number_id}/auto-resolution")
@described(
    Operation(
        "After how many idle hours the number's open conversations are resolved (role admin)",
        "numbers",
        body=schemas.AutoResolution,
        answers={200: Answer("The number's threshold", schemas.AutoResolutionSet)},
    )
)
async def set_auto_resolution(request: web.Request) -> web.Response:
    """The auto-resolution threshold, 1 to 720 hours (12 until set). The reply delay is the
    assistant's `reply_delay_seconds` (`PUT /api/v1/assistants`)."""
    metadata = credentials(request)
    Query.of(request)
    body = await json_object(request)
    hours = body.get("hours")
    if (
        isinstance(hours, bool)
        or not isinstance(hours, int)
        or not -INT32_MAX <= hours <= INT32_MAX
    ):
        raise BadRequest("hours must be a whole number of hours")
    reply = await request.app[UPSTREAMS].commands.SetAutoResolution(
        session_pb2.SetAutoResolutionRequest(
            phone_number_id=path_text(request, "phone_number_id", "phone_number_id"),
            hours=hours,
        ),
        metadata=metadata,
        timeout=DEADLINE_SECONDS,
    )
    return web.json_response({"phone_number_id": reply.phone_number_id, "hours": reply.hours})
