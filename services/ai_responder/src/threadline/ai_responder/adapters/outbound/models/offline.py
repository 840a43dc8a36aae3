"""`offline:` — the honest offline model: no network, no invention, a name that says so.

Without knowledge bases it answers every request with `OFFLINE_TEXT`. For an assistant with
knowledge bases (the request's `grounding`, issue 12 item 1) it answers from them: the best
passage's text with its source (within WhatsApp's text limit), citing it; when the search
abstained it says it does not know and hands the conversation off."""

from __future__ import annotations

from typing import Final

from threadline.ai_responder.application.ports import ModelAnswer, ModelRequest, ToolCall, Usage
from threadline.ai_responder.domain.citations import Grounding
from threadline.ai_responder.domain.reply_format import shorten
from threadline.rules import whatsapp_limits as limits

OFFLINE_TEXT: Final = (
    "Thanks for your message. Our assistant is offline right now; "
    "a member of our team will get back to you."
)
DO_NOT_KNOW_TEXT: Final = (
    "I'm sorry, I don't know the answer to that. A member of our team will get back to you."
)
DO_NOT_KNOW_REASON: Final = "the knowledge base has no answer to the customer's question"


class OfflineAssistantModel:
    """Answers without a network: from the request's knowledge-base passages when it has
    some, `OFFLINE_TEXT` otherwise; costs nothing."""

    def __init__(self, model: str = "threadline-offline-1") -> None:
        self.name = f"offline:{model}"

    async def generate(self, request: ModelRequest) -> ModelAnswer:
        words = len(request.system_prompt.split()) + sum(
            len(turn.text.split()) for turn in request.turns
        )
        text, tool_calls = OFFLINE_TEXT, tuple[ToolCall, ...]()
        if request.grounding is not None:
            text, tool_calls = "", _from_knowledge(request.grounding)
        said = sum(len(str(call.arguments).split()) for call in tool_calls) or len(text.split())
        return ModelAnswer(
            text=text,
            tool_calls=tool_calls,
            usage=Usage(input_tokens=words, output_tokens=said),
            model=self.name,
            latency_seconds=0.0,
        )

    async def close(self) -> None:
        return None


def _from_knowledge(grounding: Grounding) -> tuple[ToolCall, ...]:
    """The best passage with its source, or "I don't know" and a hand-off."""
    if grounding.abstained:
        return (
            ToolCall("reply", {"kind": "text", "text": DO_NOT_KNOW_TEXT}),
            ToolCall("hand_off", {"reason": DO_NOT_KNOW_REASON}),
        )
    best = grounding.passages[0]
    source = f"\n\nSource: {best.document}"
    text = shorten(best.text.strip(), limits.TEXT_BODY - len(source)) + source
    return (ToolCall("reply", {"kind": "text", "text": text, "sources": [best.number]}),)
