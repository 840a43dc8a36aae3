"""`offline:` — the honest offline model: no network, a fixed answer, a name that says so."""

from __future__ import annotations

from threadline.ai_responder.application.ports import ModelAnswer, ModelRequest, Usage

OFFLINE_TEXT = (
    "Thanks for your message. Our assistant is offline right now; "
    "a member of our team will get back to you."
)


class OfflineAssistantModel:
    """Answers every request with `OFFLINE_TEXT`, never calls a tool, costs nothing."""

    def __init__(self, model: str = "threadline-offline-1") -> None:
        self.name = f"offline:{model}"

    async def generate(self, request: ModelRequest) -> ModelAnswer:
        words = len(request.system_prompt.split()) + sum(
            len(turn.text.split()) for turn in request.turns
        )
        return ModelAnswer(
            text=OFFLINE_TEXT,
            tool_calls=(),
            usage=Usage(input_tokens=words, output_tokens=len(OFFLINE_TEXT.split())),
            model=self.name,
            latency_seconds=0.0,
        )

    async def close(self) -> None:
        return None
