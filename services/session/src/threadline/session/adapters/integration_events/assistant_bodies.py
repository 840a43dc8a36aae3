"""The `SessionEvent` bodies of assistants' events (`event_bodies` merges them into `BODIES`):
what the AI responder and analytics build their own view of assistants from."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from threadline.contracts.events.v1 import session_pb2 as pb
from threadline.session.domain.assistant import (
    DEFAULT_MAX_CONTEXT_TOKENS,
    DEFAULT_REPLY_DELAY_SECONDS,
)

Fields = Mapping[str, Any]


def _registered(f: Fields, out: pb.SessionEvent) -> None:
    out.assistant_registered.name = f.get("name", "")


def _configured(f: Fields, out: pb.SessionEvent) -> None:
    body = out.assistant_configured
    body.name = f.get("name", "")
    body.version = f.get("version", 0)
    body.model = f.get("model", "")
    body.system_prompt = f.get("system_prompt", "")
    body.language = f.get("language", "")
    body.reply_delay_seconds = f.get("reply_delay_seconds", DEFAULT_REPLY_DELAY_SECONDS)
    body.max_context_tokens = f.get("max_context_tokens", DEFAULT_MAX_CONTEXT_TOKENS)
    body.tools.extend(f.get("tools", []))
    body.business_numbers.extend(f.get("business_numbers", []))
    body.http_tools_json = f.get("http_tools_json", "")
    body.knowledge_bases.extend(f.get("knowledge_bases") or [])
    body.collect_fields_json = f.get("collect_fields_json", "")


def _assigned(f: Fields, out: pb.SessionEvent) -> None:
    body = out.assistant_assigned
    body.phone_number_id = f.get("phone_number_id", "")
    body.assistant = f.get("assistant", "")


ASSISTANT_BODIES: dict[str, Callable[[Fields, pb.SessionEvent], None]] = {
    "Assistant.Registered": _registered,
    "Assistant.Configured": _configured,
    "BusinessNumber.AssistantAssigned": _assigned,
}
