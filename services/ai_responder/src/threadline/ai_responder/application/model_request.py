"""What the assistant's model is asked: the business's system prompt, the platform's WhatsApp
guidance, the customer's message, and the two tools it answers with (`reply`, `hand_off`).

Only the message being answered is a turn for now: the conversation's earlier messages and the
memory of the customer's earlier conversations come with issue 10 item 3."""

from __future__ import annotations

from typing import Final

from threadline.ai_responder.application.ports import CUSTOMER, ModelRequest, Tool, Turn
from threadline.ai_responder.domain.customer_message import CustomerMessage
from threadline.ai_responder.domain.reply_format import REPLY_SCHEMA
from threadline.rules import whatsapp_limits as limits

DEFAULT_SYSTEM_PROMPT: Final = (
    "You are the assistant of a business on WhatsApp. Be brief, friendly and accurate. "
    "When you do not know something, say so and offer to bring in a person."
)
# What the platform appends to every system prompt: the channel's manners and formats.
WHATSAPP_GUIDANCE: Final = (
    "You are writing in WhatsApp. Keep each message short: a few sentences, no headings, no "
    "tables, no Markdown (WhatsApp's own *bold* and _italic_ are fine). Answer by calling the "
    "`reply` tool and choose its kind: `text` for an ordinary answer; `buttons` when the "
    f"customer should pick one of 1 to {limits.BUTTONS} short options (titles at most "
    f"{limits.BUTTON_TITLE} characters); `list` for 4 to {limits.LIST_ROWS} options (titles at "
    f"most {limits.ROW_TITLE} characters, descriptions at most {limits.ROW_DESCRIPTION}); "
    "`cta_url` to offer one web page behind a button. Give each option an id you will "
    "recognise: a tapped option comes back as the customer's choice with its title and id. "
    "When the customer wants a person, or you cannot help, call the `hand_off` tool with a "
    "short reason for the operator who takes over."
)
REPLY_TOOL: Final = Tool(
    name="reply",
    description="Send the customer one WhatsApp message, in the format that suits it best.",
    parameters=REPLY_SCHEMA,
)
HAND_OFF_TOOL: Final = Tool(
    name="hand_off",
    description="Transfer the conversation to a person (an operator of the business).",
    parameters={
        "type": "object",
        "properties": {
            "reason": {
                "type": "string",
                "description": "Why a person should take over, in one short sentence.",
            }
        },
        "required": ["reason"],
    },
)


def system_prompt(business_prompt: str) -> str:
    """The business's prompt (the default when it has none) and the platform's guidance."""
    return f"{business_prompt.strip() or DEFAULT_SYSTEM_PROMPT}\n\n{WHATSAPP_GUIDANCE}"


def model_request(message: CustomerMessage, *, business_prompt: str) -> ModelRequest:
    """The request answering `message`: the model must answer through a tool (a model without
    tools, like the offline one, answers in plain text, which is read as a text reply)."""
    return ModelRequest(
        system_prompt=system_prompt(business_prompt),
        turns=(Turn(CUSTOMER, _what_the_customer_said(message)),),
        tools=(REPLY_TOOL, HAND_OFF_TOOL),
        require_tool=True,
    )


def _what_the_customer_said(message: CustomerMessage) -> str:
    if message.text.strip():
        return message.text
    return f"[the customer sent {message.type} without any text]"
