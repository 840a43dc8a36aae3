"""`threadline.analytics.v1.Metrics` over gRPC: requests in, reports and chunks out.

Errors travel through `conversation_queries.ERRORS` (the server's one table): a malformed
filter, period or format is INVALID_ARGUMENT.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import grpc

from threadline.analytics.adapters.inbound.grpc.proto_mapping import (
    conversation_filter,
    metrics_pb,
    moment,
)
from threadline.analytics.application.read.conversation_metrics import ConversationMetrics, Period
from threadline.analytics.application.read.export import ConversationExports, ExportRequest
from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.contracts.analytics.v1 import analytics_pb2_grpc
from threadline.servicekit.auth import current_principal
from threadline.servicekit.grpc_kit import Registration

Context = grpc.aio.ServicerContext[Any, Any]


class MetricsApi(analytics_pb2_grpc.MetricsServicer):
    def __init__(self, metrics: ConversationMetrics, exports: ConversationExports) -> None:
        self._metrics = metrics
        self._exports = exports

    async def GetMetrics(  # noqa: N802 (named by the proto)
        self, request: pb.GetMetricsRequest, context: Context
    ) -> pb.GetMetricsResponse:
        criteria = conversation_filter(request.filter)
        period = Period.of(
            moment(request.period_from, request.HasField("period_from")),
            moment(request.period_to, request.HasField("period_to")),
        )
        report = await self._metrics.report(current_principal(), criteria, period)
        return metrics_pb(report)

    async def ExportConversations(  # noqa: N802
        self, request: pb.ExportConversationsRequest, context: Context
    ) -> AsyncIterator[pb.ExportChunk]:
        export = ExportRequest.of(
            conversation_filter(request.filter),
            request.format,
            include_messages=request.include_messages,
        )
        # Closed as soon as this stream ends, cancelled or not: the cursor goes with it.
        async with aclosing(self._exports.chunks(current_principal(), export)) as chunks:
            async for data in chunks:
                yield pb.ExportChunk(data=data)


def registration(metrics: ConversationMetrics, exports: ConversationExports) -> Registration:
    return Registration(
        add_to_server=analytics_pb2_grpc.add_MetricsServicer_to_server,
        servicer=MetricsApi(metrics, exports),
        service_name=pb.DESCRIPTOR.services_by_name["Metrics"].full_name,
    )
