"""The REST API's metrics endpoint: analytics' metrics of the conversations the list's
filters select, with a daily series, described for the OpenAPI document."""

from __future__ import annotations

from aiohttp import web

from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.gateway.adapters.inbound.http import schemas
from threadline.gateway.adapters.inbound.http.conversations import FILTERS, conversation_filter
from threadline.gateway.adapters.inbound.http.openapi import Answer, Operation, Parameter, described
from threadline.gateway.adapters.inbound.http.params import Query, credentials
from threadline.gateway.adapters.inbound.http.routes import DEADLINE_SECONDS, TIME, UPSTREAMS
from threadline.gateway.adapters.inbound.http.shapes import metrics_json

metrics_routes = web.RouteTableDef()


@metrics_routes.get("/api/v1/metrics")
@described(
    Operation(
        "Metrics of the filtered conversations (seed 003's and the rest), with a daily series",
        "metrics",
        query=(
            Parameter("period_from", "conversations created at or after", TIME),
            Parameter("period_to", "conversations created before", TIME),
            *FILTERS,
        ),
        answers={200: Answer("The metrics", schemas.Metrics)},
    )
)
async def get_metrics(request: web.Request) -> web.Response:
    metadata = credentials(request)
    query = Query.of(request)
    ask = pb.GetMetricsRequest(
        filter=conversation_filter(query),
        period_from=query.moment("period_from"),
        period_to=query.moment("period_to"),
    )
    reply = await request.app[UPSTREAMS].metrics.GetMetrics(
        ask, metadata=metadata, timeout=DEADLINE_SECONDS
    )
    return web.json_response(metrics_json(reply))
