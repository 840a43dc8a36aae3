"""Replies the assistant generated and never sent: the customer wrote again while one was being
generated, so a newer generation covers everything (issue 10 item 4). Nothing is sent, but the
tokens were spent: each is recorded once, for what it cost (issue 10 item 8)."""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from threadline.session.domain.conversation_state import ConversationState


class DiscardedGenerations(ConversationState):
    """The conversation's superseded generations, each recorded once by its id."""

    class AssistantGenerationDiscarded(Aggregate.Event):
        generation_id: str
        model: str
        assistant: str
        assistant_version: int
        prompt_tokens: int  # includes cached_tokens
        completion_tokens: int
        cached_tokens: int
        cost: str  # USD, a plain decimal; "" when not priced
        latency_ms: int
        covered_message_ids: tuple[str, ...]
        trace: str

        def apply(self, aggregate: ConversationState) -> None:
            aggregate.discarded_generations.append(self.generation_id)

    def record_discarded_generation(
        self,
        *,
        generation_id: str,
        model: str = "",
        assistant: str = "",
        assistant_version: int = 0,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cached_tokens: int = 0,
        cost: str = "",
        latency_ms: int = 0,
        covered_message_ids: tuple[str, ...] = (),
        trace: str = "",
    ) -> bool:
        """Record what a discarded generation cost; False when it was already recorded. It is
        recorded whatever the conversation's status: the tokens were spent."""
        if generation_id in self.discarded_generations:
            return False
        self.trigger_event(
            self.AssistantGenerationDiscarded,
            generation_id=generation_id,
            model=model,
            assistant=assistant,
            assistant_version=assistant_version,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cached_tokens=cached_tokens,
            cost=cost,
            latency_ms=latency_ms,
            covered_message_ids=tuple(covered_message_ids),
            trace=trace,
        )
        return True
