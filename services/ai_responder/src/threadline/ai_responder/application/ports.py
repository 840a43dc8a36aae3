"""What the AI responder's use case needs from outside: a language model, a place for answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from threadline.ai_responder.domain.answers import HandOffRequest, ReplyDraft


@dataclass(frozen=True, slots=True)
class Prompt:
    customer_name: str
    message_type: str
    text: str


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int


class LanguageModel(Protocol):
    def complete(self, prompt: Prompt) -> Completion: ...


class Replies(Protocol):
    """Where the answers go (the session hears of them); each raises when not kept."""

    async def reply_drafted(self, draft: ReplyDraft) -> None: ...

    async def hand_off_requested(self, request: HandOffRequest) -> None: ...
