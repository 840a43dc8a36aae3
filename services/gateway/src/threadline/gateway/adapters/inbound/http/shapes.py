"""The seed REST API's JSON shapes, built from the gRPC replies: snake_case, ISO-8601 times."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC
from typing import Any
from urllib.parse import quote

from google.protobuf.message import Message as ProtoMessage

from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.contracts.session.v1 import session_pb2

Json = dict[str, Any]


def conversation_json(conversation: pb.Conversation) -> Json:
    return {
        "id": conversation.id,
        "lead_id": conversation.lead_id,
        "session_key": conversation.session_key,
        "channel": conversation.channel,
        "status": conversation.status,
        "message_count": conversation.message_count,
        "created_at": _moment(conversation, "created_at"),
        "updated_at": _moment(conversation, "updated_at"),
        "lead": _lead(conversation.lead) if conversation.HasField("lead") else None,
        "last_message_at": _moment(conversation, "last_message_at"),
        "last_message_preview": conversation.last_message_preview,
        "business_number": conversation.business_number,
        "category": conversation.category,
        "assistant": conversation.assistant,
        "ai_paused": conversation.ai_paused,
        "cost": conversation.cost,
        "tokens": conversation.tokens,
        "opened_by": conversation.opened_by,
        # The conversation's flow (issue 12; seed 000's fields): "" / {} / null when none ran.
        "conversation_flow_id": conversation.conversation_flow_id,
        "current_step_id": conversation.current_step_id,
        "session_data": _metadata(conversation.session_data_json),
        "expires_at": _moment(conversation, "flow_expires_at"),
        "is_completed": conversation.is_completed,
        "flow_status": conversation.flow_status,
    }


def message_json(message: pb.Message) -> Json:
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "role": message.role,
        "author": message.author,
        "type": message.type,
        "content": message.content,
        "status": message.status,
        "metadata": _metadata(message.metadata_json),
        "created_at": _moment(message, "created_at"),
        "updated_at": _moment(message, "updated_at"),
        "wamid": message.wamid,
        # An AI reply: what its model saw in the customer's images (issue 11 item 3).
        "interpretation": message.interpretation,
        # An AI reply: the knowledge-base passages it used (issue 12); [] when none.
        "citations": [_citation(c) for c in message.citations],
    }


def tool_call_json(call: pb.ToolCall) -> Json:
    """One call of a business's HTTP tool by the assistant (issue 12)."""
    return {
        "id": call.call_id,
        "conversation_id": call.conversation_id,
        "generation_id": call.generation_id,
        "tool": call.tool,
        "arguments": _metadata(call.arguments_json),
        "status": call.status,
        "http_status": call.http_status or None,
        "latency_ms": call.latency_ms,
        "mutating": call.mutating,
        "replayed": call.replayed,
        "at": _moment(call, "called_at"),
    }


def attachment_json(attachment: pb.Attachment) -> Json:
    """An attachment; `file` is where a stored one's bytes are served (None when not kept)."""
    stored = attachment.status == "stored"
    return {
        "id": attachment.message_id,
        "message_id": attachment.message_id,
        "conversation_id": attachment.conversation_id,
        "direction": attachment.direction,
        "type": attachment.media_type,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "sha256": attachment.sha256,
        "file_name": attachment.file_name,
        "caption": attachment.caption,
        "voice": attachment.voice,
        "status": attachment.status,
        "failure_reason": attachment.failure_reason,
        "refused": attachment.refused,
        "created_at": _moment(attachment, "created_at"),
        "updated_at": _moment(attachment, "updated_at"),
        "transcript": (
            _transcript(attachment.transcript) if attachment.HasField("transcript") else None
        ),
        "file": (
            f"/api/v1/conversations/{quote(attachment.conversation_id, safe='')}"
            f"/attachments/{quote(attachment.message_id, safe='')}/file"
            if stored
            else None
        ),
    }


def session_status_json(
    status: pb.GetSessionStatusResponse, business_number: str, bodies: Mapping[str, str]
) -> Json:
    """Seed 000's shape; each template as `template_json`, its body from `bodies` (by id)."""
    return {
        "window_active": status.window_active,
        "last_inbound_at": _moment(status, "last_inbound_at"),
        "expires_at": _moment(status, "expires_at"),
        "remaining_minutes": status.remaining_minutes,
        "templates": [
            {
                "id": template_id(template.name, template.language),
                "name": template.name,
                "language": template.language,
                "category": template.category,
                "body": bodies.get(template_id(template.name, template.language), ""),
                "param_count": template.parameter_count,
            }
            for template in status.templates
        ],
        "conversation_id": status.conversation_id or None,
        "business_number": business_number,
    }


def template_id(name: str, language: str) -> str:
    """A template is WhatsApp's by its name and language together: `name:language`."""
    return f"{name}:{language}"


def template_json(template: session_pb2.Template) -> Json:
    return {
        "id": template_id(template.name, template.language),
        "name": template.name,
        "language": template.language,
        "category": template.category,
        "body": template.body,
        "param_count": template.parameter_count,
    }


def _lead(lead: pb.Lead) -> Json:
    return {
        "id": lead.id,
        "phone": lead.wa_id,  # seed 002's name for the customer's WhatsApp number
        "wa_id": lead.wa_id,
        "user_id": lead.user_id,
        "name": lead.name,  # the name the customer gave a flow, else the WhatsApp profile name
        "email": lead.email,  # collected in a conversation (issue 12), "" until then
    }


def _citation(citation: pb.Citation) -> Json:
    return {
        "passage_id": citation.passage_id,
        "document": citation.document,
        "knowledge_base": citation.knowledge_base,
        "score": citation.score,
        "snippet": citation.snippet,
    }


def _transcript(transcript: pb.Transcript) -> Json:
    return {
        "status": transcript.status,
        "text": transcript.text,
        "language": transcript.language,
        "model": transcript.model,
        "duration_seconds": transcript.duration_seconds,
        "reason": transcript.reason,
        "recorded_at": _moment(transcript, "recorded_at"),
    }


def _moment(message: ProtoMessage, field: str) -> str | None:
    """An ISO-8601 UTC time, or None when the reply leaves it unset."""
    if not message.HasField(field):
        return None
    moment = getattr(message, field).ToDatetime(tzinfo=UTC)
    return str(moment.isoformat()).replace("+00:00", "Z")


def _metadata(raw: str) -> Any:
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        # The read models store valid JSON; should one ever not be, show it rather than fail.
        return {"raw": raw}


def assistant_json(assistant: session_pb2.Assistant) -> Json:
    """An assistant as the session keeps it; `reply_delay_seconds` is its numbers' reply
    delay."""
    return {
        "name": assistant.name,
        "model": assistant.model,
        "system_prompt": assistant.system_prompt,
        "language": assistant.language,
        "reply_delay_seconds": assistant.reply_delay_seconds,
        "max_context_tokens": assistant.max_context_tokens,
        "tools": list(assistant.tools),
        "business_numbers": list(assistant.business_numbers),
        "knowledge_bases": list(assistant.knowledge_bases),
        "http_tools": _json_list(assistant.http_tools_json),
        "collect": _json_list(assistant.collect_fields_json),
        "version": assistant.version,
    }


def flow_json(flow: session_pb2.Flow) -> Json:
    return {
        "id": flow.id,
        "name": flow.name,
        "definition_version": flow.definition_version,
        "version": flow.version,
        "trigger_kinds": list(flow.trigger_kinds),
        "business_numbers": list(flow.business_numbers),
        "definition": _metadata(flow.definition_json),
    }


def metrics_json(metrics: pb.GetMetricsResponse) -> Json:
    return {
        "total_conversations": metrics.total_conversations,
        "messages_per_conversation": metrics.messages_per_conversation,
        "response_rate": metrics.response_rate,
        "answered_rate": metrics.answered_rate,
        "ai_response_time": _times(metrics.ai_response_time),
        "human_response_time": _times(metrics.human_response_time),
        "cost_per_conversation": metrics.cost_per_conversation,
        "total_cost": metrics.total_cost,
        "language_model_cost": metrics.language_model_cost,
        "whatsapp_cost": metrics.whatsapp_cost,
        "prompt_tokens": metrics.prompt_tokens,
        "completion_tokens": metrics.completion_tokens,
        "by_category": [{"key": c.key, "count": c.count} for c in metrics.by_category],
        "by_status": [{"key": c.key, "count": c.count} for c in metrics.by_status],
        "hand_offs": metrics.hand_offs,
        "series": [
            {
                "day": day.day,
                "conversations": day.conversations,
                "customer_messages": day.customer_messages,
                "replies": day.replies,
                "response_rate": day.response_rate,
                "answered_rate": day.answered_rate,
                "cost": day.cost,
            }
            for day in metrics.series
        ],
    }


def _times(times: pb.ResponseTimes) -> Json:
    return {
        "average_seconds": times.average_seconds,
        "p90_seconds": times.p90_seconds,
        "responses": times.responses,
    }


def _json_list(raw: str) -> Any:
    return json.loads(raw) if raw else []
