"""`offline:` — the honest offline model: no network, no invention, a name that says so.

Without knowledge bases it answers every request with `OFFLINE_TEXT`. For an assistant with
knowledge bases (the request's `grounding`, issue 12) it answers from them:

- the best passage's text with its source (within WhatsApp's text limit), citing it; of the
  passages about as good as the best (within `SAME_ANSWER`), one in the customer's language
  first, so a Portuguese question gets the Portuguese passage of a bilingual FAQ; a Markdown
  heading that starts the passage is sent in WhatsApp's bold;
- when the search abstained but some passages came close, a WhatsApp list of them (their
  headings or first sentences as rows, ids `kb:<passage id>`), and a last row to talk to a
  person (`kb:person`): a tapped row comes back as the customer's choice and is answered with
  that passage, when the search finds it again (the person's row with a hand-off);
- when nothing came close, that it does not know, and a hand-off;
- a message that only greets ("Oi", "Bom dia!") is greeted back above the list of the closest
  passages as questions (what the knowledge base can answer), and one that only thanks is
  answered "you're welcome": neither is a question to answer with a passage.

Its fixed sentences ("Source", "I don't know", the list's) are in the customer's language as
`guess_language` reads the message, else the assistant's `language`, else English
(adapters/outbound/models/offline_language.py); "Source" follows the passage's own language.
The bare name `offline` (`model: offline` in an assistant file) is `offline:threadline-offline-1`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from threadline.ai_responder.adapters.outbound.models.offline_language import (
    PHRASES,
    guess_language,
    is_greeting,
    is_thanks,
    phrases_for,
    written,
)
from threadline.ai_responder.application.ports import (
    CUSTOMER,
    ModelAnswer,
    ModelRequest,
    ToolCall,
    Usage,
)
from threadline.ai_responder.domain.answers import HAND_OFF_REASON
from threadline.ai_responder.domain.citations import GivenPassage, Grounding
from threadline.ai_responder.domain.reply_format import shorten
from threadline.rules import whatsapp_limits as limits

OFFLINE: Final = "offline"
DEFAULT_MODEL: Final = "threadline-offline-1"
OFFLINE_TEXT: Final = PHRASES["en"].offline
DO_NOT_KNOW_TEXT: Final = PHRASES["en"].do_not_know
DO_NOT_KNOW_REASON: Final = "the knowledge base has no answer to the customer's question"
# Passages whose similarity is within this of the best one's answer the question as well.
SAME_ANSWER: Final = 0.03
ROW_ID_PREFIX: Final = "kb:"
PERSON_ROW: Final = f"{ROW_ID_PREFIX}person"
_TAPPED: Final = re.compile(r'option id "kb:([^"]+)"\]\s*$')
_HEADING: Final = re.compile(r"^\s*#{1,6}\s+(.+?)\s*#*\s*$")
_SENTENCE: Final = re.compile(r"(?<=[.!?\u061f])\s")
_QUESTION_END: Final = re.compile(r"(?<=[?\u061f])\s")
HEADING_LIMIT: Final = 80


def offline_name(name: str) -> str:
    """`name`, with the bare `offline` as the offline assistant's full name."""
    return f"{OFFLINE}:{DEFAULT_MODEL}" if name.strip() == OFFLINE else name


class OfflineAssistantModel:
    """Answers without a network: from the request's knowledge-base passages when it has
    some, `OFFLINE_TEXT` (in the customer's language) otherwise; costs nothing."""

    def __init__(self, model: str = DEFAULT_MODEL) -> None:
        self.name = f"{OFFLINE}:{model}"

    async def generate(self, request: ModelRequest) -> ModelAnswer:
        words = len(request.system_prompt.split()) + sum(
            len(turn.text.split()) for turn in request.turns
        )
        asked = _last_customer_turn(request)
        language = written(guess_language(asked)) or written(request.language) or "en"
        text, tool_calls = phrases_for(language).offline, tuple[ToolCall, ...]()
        if request.grounding is not None:
            text, tool_calls = "", _from_knowledge(request.grounding, language, asked)
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


def _last_customer_turn(request: ModelRequest) -> str:
    return next((t.text for t in reversed(request.turns) if t.role == CUSTOMER), "")


def _from_knowledge(grounding: Grounding, language: str, asked: str) -> tuple[ToolCall, ...]:
    """The passage the customer tapped or the best one with its source; else the closest as a
    list; else "I don't know" and a hand-off."""
    if is_thanks(asked):
        return (ToolCall("reply", {"kind": "text", "text": phrases_for(language).welcome}),)
    if is_greeting(asked):
        greeting = phrases_for(language).greeting
        menu = (*grounding.passages, *grounding.closest)
        if menu:
            return (_closest_list(menu, language, text=greeting),)
        hello = _QUESTION_END.split(greeting, maxsplit=1)[0]  # without the list's sentence
        return (ToolCall("reply", {"kind": "text", "text": hello}),)
    tapped = _TAPPED.search(asked)
    if tapped is not None and f"{ROW_ID_PREFIX}{tapped.group(1)}" == PERSON_ROW:
        return (
            ToolCall("reply", {"kind": "text", "text": phrases_for(language).person}),
            ToolCall("hand_off", {"reason": HAND_OFF_REASON}),
        )
    if tapped is not None:
        chosen = [
            given
            for given in (*grounding.passages, *grounding.closest)
            if given.citation.passage_id == tapped.group(1)
        ]
        if chosen:
            return (_answer_with(chosen[0], language, cited=chosen[0] in grounding.passages),)
    if not grounding.abstained:
        return (_answer_with(_best(grounding.passages, language), language, cited=True),)
    if grounding.closest:
        return (_closest_list(grounding.closest, language),)
    return (
        ToolCall("reply", {"kind": "text", "text": phrases_for(language).do_not_know}),
        ToolCall("hand_off", {"reason": DO_NOT_KNOW_REASON}),
    )


def _best(passages: Sequence[GivenPassage], language: str) -> GivenPassage:
    """The best passage, or one about as good in the customer's language."""
    best = passages[0]
    as_good = [p for p in passages if p.citation.score >= best.citation.score - SAME_ANSWER]
    return next((p for p in as_good if guess_language(p.text) == language), best)


def _answer_with(given: GivenPassage, language: str, *, cited: bool) -> ToolCall:
    """The passage's text (its heading in bold) and its source, in the passage's language."""
    words = phrases_for(written(guess_language(given.text)) or language)
    source = f"\n\n{words.source}: {given.document}"
    text = shorten(_readable(given.text), limits.TEXT_BODY - len(source)) + source
    arguments: dict[str, object] = {"kind": "text", "text": text}
    if cited:
        arguments["sources"] = [given.number]
    return ToolCall("reply", arguments)


def _closest_list(closest: Sequence[GivenPassage], language: str, *, text: str = "") -> ToolCall:
    """A list whose rows are the closest passages (in the customer's language when some are),
    each a title and a description, then a person; reply_format.repair bounds them to
    WhatsApp's limits."""
    mine = [p for p in closest if guess_language(p.text) == language] or list(closest)
    words = phrases_for(language)
    options = []
    for given in mine[: limits.LIST_ROWS - 1]:
        title, rest = _title(given.text)
        options.append(
            {
                "id": f"{ROW_ID_PREFIX}{given.citation.passage_id}",
                "title": title,
                "description": rest,
            }
        )
    options.append({"id": PERSON_ROW, "title": words.person_row, "description": ""})
    return ToolCall(
        "reply",
        {
            "kind": "list",
            "text": text or words.closest,
            "options": options,
            "list_button": words.closest_button,
        },
    )


def _title(text: str) -> tuple[str, str]:
    """A passage's title (its heading, else its first sentence) and the start of the rest."""
    heading, rest = _heading(text)
    if heading:
        return heading, " ".join(rest.split())
    first, *others = _SENTENCE.split(" ".join(text.split()), maxsplit=1)
    return first, " ".join(others)


def _readable(text: str) -> str:
    """The passage as WhatsApp shows it: its heading, when it starts with one, in bold."""
    heading, rest = _heading(text)
    return f"*{heading}*\n\n{rest}" if heading else text.strip()


def _heading(text: str) -> tuple[str, str]:
    """The heading a passage starts with (a Markdown one, or a short line without a full stop
    before a blank line, as the knowledge base keeps a converted document's) and the rest;
    ("", text) when it starts with none."""
    first, blank, rest = text.strip().partition("\n\n")
    marked = _HEADING.fullmatch(first)
    if marked is not None:
        return marked.group(1), rest.strip()
    if blank and "\n" not in first and len(first) <= HEADING_LIMIT and first[-1] not in ".!?:;,":
        return first.strip(), rest.strip()
    return "", text
