"""The REST API's configuration endpoints: assistants and flows, listed and applied from
their files (YAML or JSON) as the session keeps them, described for the OpenAPI document."""

from __future__ import annotations

from aiohttp import web

from threadline.contracts.session.v1 import session_pb2
from threadline.gateway.adapters.inbound.http import schemas
from threadline.gateway.adapters.inbound.http.assistant_files import assistant_request
from threadline.gateway.adapters.inbound.http.openapi import Answer, Operation, Parameter, described
from threadline.gateway.adapters.inbound.http.params import (
    Query,
    body_text,
    credentials,
    yaml_object,
)
from threadline.gateway.adapters.inbound.http.routes import DEADLINE_SECONDS, UPSTREAMS
from threadline.gateway.adapters.inbound.http.shapes import assistant_json, flow_json

configuration_routes = web.RouteTableDef()


@configuration_routes.get("/api/v1/assistants")
@described(
    Operation(
        "The assistants serving the token's numbers",
        "assistants",
        query=(Parameter("phone_number_id", "only the one serving this number"),),
        answers={200: Answer("The assistants", schemas.AssistantList)},
    )
)
async def list_assistants(request: web.Request) -> web.Response:
    metadata = credentials(request)
    number = Query.of(request).text("phone_number_id")
    reply = await request.app[UPSTREAMS].commands.ListAssistants(
        session_pb2.ListAssistantsRequest(phone_number_id=number),
        metadata=metadata,
        timeout=DEADLINE_SECONDS,
    )
    return web.json_response({"assistants": [assistant_json(a) for a in reply.assistants]})


@configuration_routes.put("/api/v1/assistants")
@described(
    Operation(
        "Apply an assistant file (YAML or JSON, as `threadline assistants apply`; role admin)",
        "assistants",
        body_media_types=("application/yaml", "application/json"),
        body_schema={"type": "object", "description": "name, model, system_prompt, ..."},
        answers={200: Answer("The assistant as the session keeps it", schemas.AssistantApplied)},
    )
)
async def apply_assistant(request: web.Request) -> web.Response:
    """An assistant by name, created or updated; its `reply_delay_seconds` is the reply delay
    of the numbers it serves."""
    metadata = credentials(request)
    Query.of(request)
    ask = assistant_request(await yaml_object(request))
    reply = await request.app[UPSTREAMS].commands.ConfigureAssistant(
        ask, metadata=metadata, timeout=DEADLINE_SECONDS
    )
    return web.json_response(
        {
            "assistant": assistant_json(reply.assistant),
            "created": reply.created,
            "changed": reply.changed,
        }
    )


@configuration_routes.get("/api/v1/flows")
@described(
    Operation(
        "The flows running on the token's numbers",
        "flows",
        query=(Parameter("phone_number_id", "only the flows running on this number"),),
        answers={200: Answer("The flows", schemas.FlowList)},
    )
)
async def list_flows(request: web.Request) -> web.Response:
    metadata = credentials(request)
    number = Query.of(request).text("phone_number_id")
    reply = await request.app[UPSTREAMS].commands.ListFlows(
        session_pb2.ListFlowsRequest(phone_number_id=number),
        metadata=metadata,
        timeout=DEADLINE_SECONDS,
    )
    return web.json_response({"flows": [flow_json(f) for f in reply.flows]})


@configuration_routes.put("/api/v1/flows")
@described(
    Operation(
        "Apply a flow file (YAML or JSON, as `threadline flows apply`; role admin)",
        "flows",
        body_media_types=("application/yaml", "application/json"),
        body_schema={"type": "string", "description": "the flow file's text"},
        answers={200: Answer("The flow as the session keeps it", schemas.FlowApplied)},
    )
)
async def apply_flow(request: web.Request) -> web.Response:
    """The flow by its id, created or updated; the session checks it with the shared flow
    parser (400 naming the path at fault)."""
    metadata = credentials(request)
    Query.of(request)
    definition = await body_text(request)
    reply = await request.app[UPSTREAMS].commands.ConfigureFlow(
        session_pb2.ConfigureFlowRequest(definition=definition),
        metadata=metadata,
        timeout=DEADLINE_SECONDS,
    )
    return web.json_response(
        {"flow": flow_json(reply.flow), "created": reply.created, "changed": reply.changed}
    )
