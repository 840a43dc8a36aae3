"""A message the business sent (the assistant's, an operator's, a flow's), as the model reads
it in the conversation: the text; an interactive message's body and its options; a link
button's label and address; a template's name."""

from __future__ import annotations

from threadline.ai_responder.adapters.integration_events import json_object
from threadline.contracts.events.v1.common_pb2 import MessageContent


def outbound_text(content: MessageContent) -> str:
    """`content` (of an `OutboundMessageQueued`) as the model reads it."""
    return _outbound_text(content.type, content.text, content.payload_json)


def _outbound_text(kind: str, text: str, payload_json: str) -> str:
    """An outbound message as the model reads it: the text; an interactive message's body and
    its options (`[options: "Title" (id), ...]`); a template's name."""
    payload = json_object(payload_json)
    if kind == "interactive":
        body = payload.get("body")
        said = body.get("text", "") if isinstance(body, dict) else ""
        action = payload.get("action")
        if isinstance(action, dict) and action.get("name") == "cta_url":
            link = action.get("parameters")
            if isinstance(link, dict):
                return (
                    f'{said or text} [link "{link.get("display_text", "")}": {link.get("url", "")}]'
                )
        options = _options(action)
        listed = ", ".join(f'"{title}" ({key})' for key, title in options)
        return f"{said or text} [options: {listed}]" if listed else str(said or text)
    if kind == "template" and not text:
        return f"[template {payload.get('name', '')}]".replace(" ]", "]")
    return text or f"[{kind} message]"


def _options(action: object) -> list[tuple[str, str]]:
    """The (id, title) of an interactive message's buttons or list rows."""
    if not isinstance(action, dict):
        return []
    found: list[tuple[str, str]] = []
    for button in action.get("buttons", []) or []:
        reply = button.get("reply") if isinstance(button, dict) else None
        if isinstance(reply, dict):
            found.append((str(reply.get("id", "")), str(reply.get("title", ""))))
    for section in action.get("sections", []) or []:
        rows = section.get("rows", []) if isinstance(section, dict) else []
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, dict):
                found.append((str(row.get("id", "")), str(row.get("title", ""))))
    return found
