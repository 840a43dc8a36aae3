"""Answering from the assistant's knowledge bases (issue 12 item 1): the question a burst asks,
searched in the knowledge bases before the model is asked.

The question is the burst's text; a short burst ("and on Sundays?") leans on what the customer
said before, so the customer's previous turns are put in front of it until it has
`QUESTION_WORDS` words, at most `QUESTION_TURNS` of them, the whole at most `QUESTION_LIMIT`
code points (the newest kept). No model rewrites it: the search is one embedding and one
full-text query, whatever the assistant's model.

A search that fails (the embedder or the database unreachable) is logged and answered as an
abstention: the model is told it has nothing to answer from, so it says it does not know or
hands off rather than guessing."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final, Protocol

from threadline.ai_responder.application.ports import CUSTOMER, History
from threadline.ai_responder.domain.citations import Grounding
from threadline.ai_responder.domain.customer_message import CustomerMessage
from threadline.ai_responder.domain.knowledge import KnowledgeAnswer

__all__ = ["PASSAGES", "KnowledgeSearch", "ground", "question_for"]

log = logging.getLogger(__name__)

PASSAGES: Final = 3  # passages given to the model
QUESTION_WORDS: Final = 8
QUESTION_TURNS: Final = 3
QUESTION_LIMIT: Final = 1000


class KnowledgeSearch(Protocol):
    """The knowledge bases' search (application/knowledge.py's `Knowledge`)."""

    async def search(
        self, knowledge_bases: Sequence[str], question: str, k: int = 3
    ) -> KnowledgeAnswer: ...


def question_for(messages: Sequence[CustomerMessage], history: History) -> str:
    """What the burst `messages` ask, with the customer's previous turns when it is short."""
    answering = {m.message_id for m in messages}
    parts = [m.text.strip() for m in messages if m.text.strip()]  # a transcript, a caption too
    earlier = [
        said.turn.text.strip()
        for said in history.turns
        if said.turn.role == CUSTOMER and said.message_id not in answering and said.turn.text
    ]
    while earlier and len(parts) < QUESTION_TURNS and len(" ".join(parts).split()) < QUESTION_WORDS:
        parts.insert(0, earlier.pop())
    question = " ".join(" ".join(parts).split())
    return question[-QUESTION_LIMIT:]


async def ground(
    knowledge: KnowledgeSearch, knowledge_bases: Sequence[str], question: str
) -> Grounding:
    """The passages to answer `question` from (none when the search abstains or fails)."""
    try:
        found = await knowledge.search(knowledge_bases, question, PASSAGES)
    except Exception as error:
        log.warning("the knowledge bases %s could not be searched: %s", knowledge_bases, error)
        return Grounding(())
    return Grounding.of(found)
