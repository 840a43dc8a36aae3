"""The one place the read side meets `threadline.analytics.v1`: views and reports to messages,
request filters to `ConversationFilter`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson
from google.protobuf.timestamp_pb2 import Timestamp

from threadline.analytics.application.read.conversation_metrics import MetricsReport, ResponseTimes
from threadline.analytics.domain.read.criteria import ConversationFilter
from threadline.analytics.domain.read.views import (
    AttachmentView,
    ConversationView,
    MessageView,
    SessionStatus,
    ToolCallView,
    TranscriptView,
)
from threadline.contracts.analytics.v1 import analytics_pb2 as pb

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

FilterMessage = pb.ListConversationsRequest | pb.ConversationFilter


def conversation_filter(request: FilterMessage) -> ConversationFilter:
    """The filter of a `ListConversationsRequest` or of the shared `ConversationFilter`
    message (GetMetrics, ExportConversations); an unset time leaves that end of a range open."""
    return ConversationFilter.of(
        lead_id=request.lead_id,
        status=request.status,
        channel=request.channel,
        business_number=request.business_number,
        customer_phone=request.customer_phone,
        assistant=request.assistant,
        created_from=moment(request.created_from, request.HasField("created_from")),
        created_to=moment(request.created_to, request.HasField("created_to")),
        last_message_from=moment(request.last_message_from, request.HasField("last_message_from")),
        last_message_to=moment(request.last_message_to, request.HasField("last_message_to")),
    )


def moment(stamp: Timestamp, is_set: bool) -> datetime | None:
    return stamp.ToDatetime(tzinfo=UTC) if is_set else None


def conversation_pb(view: ConversationView) -> pb.Conversation:
    return pb.Conversation(
        id=str(view.id),
        lead_id=str(view.lead_id),
        session_key=view.session_key,
        channel=view.channel,
        status=view.status,
        message_count=view.message_count,
        created_at=timestamp(view.created_at),
        updated_at=timestamp(view.updated_at),
        lead=pb.Lead(
            id=str(view.lead.id),
            wa_id=view.lead.wa_id,
            user_id=view.lead.user_id,
            name=view.lead.name,
            email=view.lead.email,
            data_json=json_text(view.lead.data),
        ),
        last_message_at=timestamp(view.last_message_at),
        last_message_preview=view.last_message_preview,
        business_number=view.business_number,
        category=view.category,
        assistant=view.assistant,
        ai_paused=view.ai_paused,
        cost=float(view.cost),
        tokens=view.tokens,
        opened_by=view.opened_by,
        conversation_flow_id=view.flow_id,
        current_step_id=view.flow_step,
        session_data_json=json_text(view.session_data),
        flow_expires_at=timestamp(view.flow_expires_at),
        is_completed=view.flow_completed,
        flow_status=view.flow_status,
    )


def json_text(value: object) -> str:
    """Collected data as compact JSON, UTF-8 unescaped ("{}" for none). Written by orjson
    (the standard library's `json.dumps` where orjson refuses a value): the same text but for
    a float's exponent (`1e-7`, not `1e-07`); the standard library cost ~2.5 µs even for `{}`,
    twice in every conversation of a page (issue 15)."""
    if value == {}:
        return "{}"
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def message_pb(view: MessageView) -> pb.Message:
    return pb.Message(
        id=view.id,
        conversation_id=str(view.conversation_id),
        role=view.role,
        author=view.author,
        type=view.type,
        content=view.content,
        status=view.status,
        metadata_json=json.dumps(view.details(), separators=(",", ":")),
        created_at=timestamp(view.created_at),
        wamid=view.wamid,
        updated_at=timestamp(view.updated_at),
        interpretation=view.interpretation,
        citations=[citation_pb(c) for c in view.citations],
    )


def citation_pb(cited: dict[str, Any]) -> pb.Citation:
    """A cited passage as its message row keeps it (a score stored as null is 0)."""
    return pb.Citation(
        passage_id=str(cited.get("passage_id", "")),
        document=str(cited.get("document", "")),
        knowledge_base=str(cited.get("knowledge_base", "")),
        score=float(cited.get("score") or 0.0),
        snippet=str(cited.get("snippet", "")),
    )


def tool_call_pb(view: ToolCallView) -> pb.ToolCall:
    return pb.ToolCall(
        call_id=view.call_id,
        conversation_id=str(view.conversation_id),
        generation_id=view.generation_id,
        tool=view.tool,
        arguments_json=json.dumps(view.arguments, separators=(",", ":"), ensure_ascii=False),
        status=view.status,
        http_status=view.http_status,
        latency_ms=view.latency_ms,
        mutating=view.mutating,
        replayed=view.replayed,
        called_at=timestamp(view.called_at),
    )


def attachment_pb(view: AttachmentView) -> pb.Attachment:
    return pb.Attachment(
        message_id=view.message_id,
        conversation_id=str(view.conversation_id),
        direction=view.direction,
        media_type=view.media_type,
        content_type=view.content_type,
        size=view.size,
        sha256=view.sha256,
        file_name=view.file_name,
        caption=view.caption,
        voice=view.voice,
        status=view.status,
        failure_reason=view.failure_reason,
        refused=view.refused,
        created_at=timestamp(view.created_at),
        updated_at=timestamp(view.updated_at),
        transcript=None if view.transcript is None else transcript_pb(view.transcript),
    )


def transcript_pb(view: TranscriptView) -> pb.Transcript:
    return pb.Transcript(
        status=view.status,
        text=view.text,
        language=view.language,
        model=view.model,
        duration_seconds=view.duration_seconds,
        reason=view.reason,
        recorded_at=timestamp(view.recorded_at),
    )


def session_status_pb(status: SessionStatus) -> pb.GetSessionStatusResponse:
    return pb.GetSessionStatusResponse(
        window_active=status.window_active,
        last_inbound_at=timestamp(status.last_inbound_at),
        expires_at=timestamp(status.expires_at),
        remaining_minutes=status.remaining_minutes,
        templates=[
            pb.SessionTemplate(
                name=t.name,
                language=t.language,
                category=t.category,
                parameter_count=t.parameter_count,
            )
            for t in status.templates
        ],
        conversation_id=str(status.conversation_id),
    )


def metrics_pb(report: MetricsReport) -> pb.GetMetricsResponse:
    return pb.GetMetricsResponse(
        total_conversations=report.conversations,
        messages_per_conversation=report.messages_per_conversation,
        response_rate=report.response_rate,
        answered_rate=report.answered_rate,
        ai_response_time=_times_pb(report.ai),
        human_response_time=_times_pb(report.human),
        cost_per_conversation=float(report.cost_per_conversation),
        total_cost=float(report.total_cost),
        language_model_cost=float(report.language_model_cost),
        whatsapp_cost=float(report.whatsapp_cost),
        prompt_tokens=report.prompt_tokens,
        completion_tokens=report.completion_tokens,
        by_category=[pb.CountBy(key=key, count=count) for key, count in report.by_category],
        by_status=[pb.CountBy(key=key, count=count) for key, count in report.by_status],
        hand_offs=report.hand_offs,
        series=[
            pb.DailyMetrics(
                day=day.day.isoformat(),
                conversations=day.conversations,
                customer_messages=day.customer_messages,
                replies=day.replies,
                response_rate=day.response_rate,
                answered_rate=day.answered_rate,
                cost=float(day.cost),
            )
            for day in report.series
        ],
    )


def _times_pb(times: ResponseTimes) -> pb.ResponseTimes:
    return pb.ResponseTimes(
        average_seconds=times.average_seconds,
        p90_seconds=times.p90_seconds,
        responses=times.responses,
    )


def timestamp(moment: datetime | None) -> Timestamp | None:
    """`Timestamp().FromDatetime(moment)` (a naive time is UTC) at a fraction of its cost: it
    was ~4 % of `GetConversation`'s CPU in the service (issue 15)."""
    if moment is None:
        return None
    since = (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)) - _EPOCH
    return Timestamp(seconds=since.days * 86_400 + since.seconds, nanos=since.microseconds * 1000)
