"""Answering from the assistant's knowledge bases (issue 12 item 1): the question a burst asks,
searched in the knowledge bases before the model is asked.

The question is the burst's text; a short burst ("and on Sundays?") leans on what the customer
said before, so the customer's previous turns are put in front of it until it has
`QUESTION_WORDS` words, at most `QUESTION_TURNS` of them, the whole at most `QUESTION_LIMIT`
code points (the newest kept). When the conversation has said something before and the
assistant's model is a real one, the model rewrites the burst as one standalone question
(`rewritten_question`: the last `REWRITE_TURNS` turns, both sides, one small tool call whose
tokens count in the answer's); the offline model, and a model that fails or gives no
question, leave the question as joined above.

A search that fails (the embedder or the database unreachable) is logged and answered as an
abstention: the model is told it has nothing to answer from, so it says it does not know or
hands off rather than guessing."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final, Protocol

from threadline.ai_responder.application.ports import (
    CUSTOMER,
    AssistantModel,
    History,
    ModelError,
    ModelRequest,
    Tool,
    Turn,
    Usage,
)
from threadline.ai_responder.domain.answers import NO_USAGE
from threadline.ai_responder.domain.citations import Grounding
from threadline.ai_responder.domain.customer_message import CustomerMessage
from threadline.ai_responder.domain.knowledge import KnowledgeAnswer

__all__ = ["PASSAGES", "KnowledgeSearch", "ground", "question_for", "rewritten_question"]

OFFLINE_PROVIDER: Final = "offline:"

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


REWRITE_TURNS: Final = 6
REWRITE_PROMPT: Final = (
    "You prepare searches in a business's knowledge base. Rewrite the customer's latest "
    "message as one standalone question, in the customer's language, with what it refers to "
    'taken from the conversation ("and on Sundays?" after opening hours becomes "What are '
    'the opening hours on Sundays?"). Call `search` with it; do not answer it.'
)
SEARCH_TOOL: Final = Tool(
    name="search",
    description="Search the business's knowledge base with one standalone question.",
    parameters={
        "type": "object",
        "properties": {"question": {"type": "string"}},
        "required": ["question"],
        "additionalProperties": False,
    },
)


async def rewritten_question(
    model: AssistantModel, messages: Sequence[CustomerMessage], history: History
) -> tuple[str, Usage]:
    """The burst's question, standalone, and the tokens it took: rewritten by `model` from the
    conversation when there is one to lean on (else, or when the model cannot, `question_for`
    and no tokens)."""
    joined = question_for(messages, history)
    answering = {m.message_id for m in messages}
    before = [s.turn for s in history.turns if s.message_id not in answering]
    if not before or model.name.startswith(OFFLINE_PROVIDER):
        return joined, NO_USAGE
    now = " ".join(m.text.strip() for m in messages if m.text.strip())
    turns = (*before[-REWRITE_TURNS:], Turn(CUSTOMER, now or joined))
    try:
        answer = await model.generate(
            ModelRequest(
                system_prompt=REWRITE_PROMPT,
                turns=_alternating(turns),
                tools=(SEARCH_TOOL,),
                require_tool=True,
                max_output_tokens=120,
            )
        )
    except ModelError as error:
        log.warning("the question was not rewritten (%s): %s", error.model, error.reason)
        return joined, NO_USAGE
    for call in answer.tool_calls:
        question = call.arguments.get("question")
        if call.name == SEARCH_TOOL.name and isinstance(question, str) and question.strip():
            return " ".join(question.split())[-QUESTION_LIMIT:], answer.usage
    return joined, answer.usage


def _alternating(turns: Sequence[Turn]) -> tuple[Turn, ...]:
    """The turns with consecutive ones of one side joined (some providers want them to
    alternate), starting with the customer."""
    joined: list[Turn] = []
    for turn in turns:
        if joined and joined[-1].role == turn.role:
            joined[-1] = Turn(turn.role, f"{joined[-1].text}\n{turn.text}")
        else:
            joined.append(Turn(turn.role, turn.text))
    while joined and joined[0].role != CUSTOMER:
        joined.pop(0)
    return tuple(joined)


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
