"""An operator's actions through the session's `SessionCommands` gRPC, as the gateway's REST API
takes them: send a text, a template or buttons (`SendMessage`), list and register templates,
turn a number's autopilot on or off, hand a conversation to a human and give it back.

Messages with files go through `threadline.cli.send` (`SendFiles`).
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import grpc
from opentelemetry import trace

from threadline.cli.columns import columns
from threadline.cli.endpoints import SessionEndpoint
from threadline.contracts.events.v1 import common_pb2
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.servicekit.config import ConfigError
from threadline.servicekit.telemetry import ensure_tracing, grpc_client_interceptors

TIMEOUT = 10.0
MAX_BUTTONS = 3  # WhatsApp's reply buttons
BUTTON_TITLE_CHARS = 20
BUTTON_ID_CHARS = 256
_tracer = trace.get_tracer("threadline.cli")


def _stub(channel: grpc.Channel) -> pb_grpc.SessionCommandsStub:
    return pb_grpc.SessionCommandsStub(channel)


def _metadata(endpoint: SessionEndpoint) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {endpoint.token}"),)


def _call(
    endpoint: SessionEndpoint,
    method: Callable[[pb_grpc.SessionCommandsStub], Callable[..., Any]],
    request: Any,
) -> Any:
    """`method` of SessionCommands (e.g. `lambda stub: stub.HandOff`) with `request`, the
    endpoint's token and the CLI's deadline, on a channel of its own."""
    with grpc.insecure_channel(endpoint.address) as channel:
        return method(_stub(channel))(request, metadata=_metadata(endpoint), timeout=TIMEOUT)


def content(
    *,
    text: str = "",
    template: str = "",
    language: str = "",
    parameters: Sequence[str] = (),
    buttons: Sequence[str] = (),
) -> common_pb2.MessageContent:
    """The message a `send` asks for: a template, buttons under a text, or a text; a
    ConfigError (usage) naming what is wrong."""
    if template:
        if text or buttons:
            raise ConfigError("--template goes alone: its text is the registered body")
        if not language:
            raise ConfigError("--template needs --language (e.g. en_US), as it was registered")
        payload = {
            "name": template,
            "language": {"code": language},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": p} for p in parameters]}
            ],
        }
        return common_pb2.MessageContent(type="template", payload_json=json.dumps(payload))
    if parameters:
        raise ConfigError("--param goes with --template")
    if not text:
        raise ConfigError("say what to send: --text, --template NAME or --file PATH")
    if buttons:
        return common_pb2.MessageContent(
            type="interactive", payload_json=json.dumps(_buttons(text, buttons))
        )
    return common_pb2.MessageContent(type="text", text=text)


def _buttons(text: str, buttons: Sequence[str]) -> dict[str, Any]:
    """WhatsApp's reply buttons under `text`; each button `ID:TITLE` (or just `TITLE`)."""
    if len(buttons) > MAX_BUTTONS:
        raise ConfigError(f"at most {MAX_BUTTONS} --button (WhatsApp's limit)")
    replies = []
    for index, button in enumerate(buttons, start=1):
        given_id, colon, title = button.partition(":")
        if not colon:
            given_id, title = f"button-{index}", button
        if not title or len(title) > BUTTON_TITLE_CHARS or len(given_id) > BUTTON_ID_CHARS:
            raise ConfigError(
                f"--button {button!r}: ID:TITLE, a title of 1 to {BUTTON_TITLE_CHARS} characters"
            )
        replies.append({"type": "reply", "reply": {"id": given_id, "title": title}})
    return {"type": "button", "body": {"text": text}, "action": {"buttons": replies}}


async def queue_message(
    endpoint: SessionEndpoint, conversation_id: str, message: common_pb2.MessageContent
) -> pb.SendMessageResponse:
    """`SendMessage` in the operator's own trace (as `threadline send` of files: `send.py`),
    carried to the session and on to the Graph API call."""
    request = pb.SendMessageRequest(
        conversation_id=conversation_id,
        content=message,
        idempotency_key=f"cli-{uuid.uuid4()}",
    )
    with _tracer.start_as_current_span("threadline send"):
        async with grpc.aio.insecure_channel(
            endpoint.address, interceptors=grpc_client_interceptors()
        ) as channel:
            answer: pb.SendMessageResponse = await pb_grpc.SessionCommandsStub(channel).SendMessage(
                request, metadata=_metadata(endpoint), timeout=TIMEOUT
            )
            return answer


def send_message(
    endpoint: SessionEndpoint,
    conversation_id: str,
    message: common_pb2.MessageContent,
    *,
    out: TextIO | None = None,
) -> int:
    """Queue one message; prints its id."""
    out = out or sys.stdout
    ensure_tracing("threadline-cli")  # OTEL_* as the services read it
    answer = asyncio.run(queue_message(endpoint, conversation_id, message))
    out.write(f"{answer.message_id}\n")
    return 0


def template_table(templates: Sequence[pb.Template]) -> str:
    if not templates:
        return "no templates\n"
    rows = [("NAME", "LANGUAGE", "CATEGORY", "PARAMS", "BODY")]
    rows += [
        (t.name, t.language, t.category, str(t.parameter_count), t.body.replace("\n", " "))
        for t in templates
    ]
    return columns(rows)


def list_templates(endpoint: SessionEndpoint, number: str, *, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    answer = _call(
        endpoint, lambda stub: stub.ListTemplates, pb.ListTemplatesRequest(phone_number_id=number)
    )
    out.write(template_table(list(answer.templates)))
    return 0


def register_template(
    endpoint: SessionEndpoint,
    number: str,
    name: str,
    *,
    language: str,
    category: str,
    body: str,
    out: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    request = pb.RegisterTemplateRequest(
        phone_number_id=number, name=name, language=language, category=category, body=body
    )
    t = _call(endpoint, lambda stub: stub.RegisterTemplate, request)
    out.write(
        f"registered {t.name} ({t.language}, {t.category}, {t.parameter_count} parameters)"
        f" for {number}\n"
    )
    return 0


def set_autopilot(
    endpoint: SessionEndpoint, number: str, enabled: bool, *, out: TextIO | None = None
) -> int:
    out = out or sys.stdout
    answer = _call(
        endpoint,
        lambda stub: stub.SetAutopilot,
        pb.SetAutopilotRequest(phone_number_id=number, enabled=enabled),
    )
    out.write(f"autopilot {'on' if answer.enabled else 'off'} for {answer.phone_number_id}\n")
    return 0


def hand_off(
    endpoint: SessionEndpoint, conversation_id: str, reason: str, *, out: TextIO | None = None
) -> int:
    out = out or sys.stdout
    answer = _call(
        endpoint,
        lambda stub: stub.HandOff,
        pb.HandOffRequest(conversation_id=conversation_id, reason=reason),
    )
    out.write(f"{answer.conversation_id} {answer.status} (handed to a human)\n")
    return 0


def resume(endpoint: SessionEndpoint, conversation_id: str, *, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    answer = _call(
        endpoint,
        lambda stub: stub.ResumeAutopilot,
        pb.ResumeAutopilotRequest(conversation_id=conversation_id),
    )
    out.write(f"{answer.conversation_id} {answer.status} (the AI answers again)\n")
    return 0
