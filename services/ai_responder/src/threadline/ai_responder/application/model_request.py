"""What the assistant's model is asked: the business's system prompt, the platform's WhatsApp
guidance, who it is talking to, what it remembers of the customer's earlier conversations with
the same business number, this conversation's messages, and the two tools it answers with
(`reply`, `hand_off`).

The context budget (issue 10 item 3) bounds what the conversation costs, however long it grows:
tokens are estimated as ceil(characters / 4) per turn (`estimate_tokens`), and the turns plus
the memory block stay within `max_context_tokens` (the business's prompt, the platform's guidance
and the tools are fixed per business and not counted). The message(s) being answered always go,
whatever they cost; the memory takes at most a quarter of the budget (the newest earlier turns
that fit); this conversation's newest earlier turns fill what is left. An image shown to the
model counts `IMAGE_TOKENS`.

Media (issue 11 item 3): the images of the burst a model that sees is shown (`Sight`, from
application/seeing.py) go with their turn, the caption as text beside them, and the `reply` tool
then asks for the model's `interpretation` of them (recorded with the reply, never sent); an
image it is not shown is said in words, with why ("a photo you cannot see"); images of the
history are mentioned by name and caption; videos, documents, stickers and audio files by
name, type and size.

Knowledge (issue 12 item 1): an assistant with knowledge bases is given the passages its search
found (`Grounding`), numbered, with their documents' names, after its guidance; the `reply`
tool then asks for `sources`, the numbers of the passages the reply used. When the search
abstained, the model is told there is no relevant passage and that it must say it does not know
or hand off, never make an answer up (the prompt and the `reply` tool's description both say
so). The passages count against the context budget like the memory."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Final

from threadline.ai_responder.application.ports import (
    ASSISTANT,
    CUSTOMER,
    NO_HISTORY,
    EarlierConversation,
    History,
    ModelRequest,
    Tool,
    Turn,
)
from threadline.ai_responder.application.seeing import NO_SIGHT, Sight
from threadline.ai_responder.domain.attachment import Attachment
from threadline.ai_responder.domain.citations import Grounding
from threadline.ai_responder.domain.customer_message import CustomerMessage
from threadline.ai_responder.domain.http_tools import HttpTool
from threadline.ai_responder.domain.reply_format import REPLY_SCHEMA
from threadline.rules import whatsapp_limits as limits
from threadline.rules.flow_definition import FlowDefinition

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
INTERPRETATION: Final = "interpretation"
INTERPRETATION_FIELD: Final[Mapping[str, object]] = {
    "type": "string",
    "description": (
        "What you see in the customer's image(s), in one or two factual sentences, for the "
        "business's records (the customer does not see this)."
    ),
}


SOURCES: Final = "sources"
SOURCES_FIELD: Final[Mapping[str, object]] = {
    "type": "array",
    "items": {"type": "integer"},
    "description": (
        "The numbers of the knowledge-base passages your reply uses ([1], [2], ...); an empty "
        "list when it uses none."
    ),
}
# Said on the `reply` tool when the assistant answers from knowledge bases.
GROUNDED_REPLY: Final = (
    " Answer questions about the business only from the numbered knowledge-base passages you "
    "were given, and list the ones you used in `sources`; when none of them answers the "
    "question, say you do not know (or call `hand_off`): never make an answer up."
)
ABSTAINED_REPLY: Final = (
    " No knowledge-base passage answers this question: do not make an answer up; say you do "
    "not know and offer a person, or call `hand_off`."
)


def reply_tool(*, seeing: bool = False, grounding: Grounding | None = None) -> Tool:
    """The `reply` tool; when the model is shown images, it also asks what the model sees;
    when it answers from knowledge bases, which passages it used (`sources`)."""
    if not seeing and grounding is None:
        return REPLY_TOOL
    schema = dict(REPLY_SCHEMA)
    properties = schema["properties"]
    required = schema["required"]
    assert isinstance(properties, Mapping) and isinstance(required, list)
    description = REPLY_TOOL.description
    if seeing:
        properties = {**properties, INTERPRETATION: INTERPRETATION_FIELD}
        required = [*required, INTERPRETATION]
    if grounding is not None:
        description += ABSTAINED_REPLY if grounding.abstained else GROUNDED_REPLY
        if not grounding.abstained:
            properties = {**properties, SOURCES: SOURCES_FIELD}
            required = [*required, SOURCES]
    schema["properties"] = properties
    schema["required"] = required
    return replace(REPLY_TOOL, description=description, parameters=schema)


KNOWLEDGE_HEADING: Final = (
    "Passages from the business's knowledge base for the customer's question (answer questions "
    "about the business only from these; cite the numbers you use in the `reply` tool's "
    "`sources`; if none answers the question, say you do not know or call `hand_off`, never "
    "make an answer up):"
)
NO_KNOWLEDGE: Final = (
    "The business's knowledge base has no passage relevant to the customer's question. Do not "
    "make an answer up: tell the customer you do not know and offer a person, or call "
    "`hand_off`."
)


def knowledge_block(grounding: Grounding) -> str:
    """The passages as the model reads them, numbered, with their documents' names."""
    if grounding.abstained:
        return NO_KNOWLEDGE
    passages = (
        f"[{given.number}] (from {given.document}) {' '.join(given.text.split())}"
        for given in grounding.passages
    )
    return "\n".join((KNOWLEDGE_HEADING, *passages))


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


START_FLOW: Final = "start_flow"
SEARCH_KNOWLEDGE: Final = "search_knowledge"
# Offered with the knowledge bases' passages: the model may search again in its own words.
SEARCH_KNOWLEDGE_TOOL: Final = Tool(
    name=SEARCH_KNOWLEDGE,
    description=(
        "Search the business's knowledge base again, with a question of your own (other words, "
        "or another thing the customer asked). The passages found come back numbered after the "
        "ones you were given; cite them by number in `sources`."
    ),
    parameters={
        "type": "object",
        "properties": {"question": {"type": "string", "description": "What to look for."}},
        "required": ["question"],
        "additionalProperties": False,
    },
)


def start_flow_tool(flows: Sequence[FlowDefinition]) -> Tool:
    """`start_flow`, offered when the business has flows the assistant may start (issue 12
    item 3: their trigger says `assistant`): the flow then asks its own questions."""
    return Tool(
        name=START_FLOW,
        description=(
            "Start one of the business's guided flows when the customer wants what it does; the "
            "flow then asks the customer its questions itself (do not ask them too). Flows: "
            + "; ".join(f"{flow.id} ({flow.name})" for flow in flows)
        ),
        parameters={
            "type": "object",
            "properties": {"flow_id": {"type": "string", "enum": [flow.id for flow in flows]}},
            "required": ["flow_id"],
            "additionalProperties": False,
        },
    )


DEFAULT_MAX_CONTEXT_TOKENS: Final = 4000
CHARACTERS_PER_TOKEN: Final = 4
# What an image shown to the model is counted as (OpenAI's high detail tiles a 1024 px square
# at 765 tokens, Anthropic's ~1,600 at most: an estimate between).
IMAGE_TOKENS: Final = 1000
MEMORY_SHARE: Final = 4  # the memory takes at most 1/MEMORY_SHARE of the budget
MEMORY_HEADING: Final = (
    "What you remember of this customer's earlier conversations with this business (for "
    "context; answer the current conversation):"
)


def system_prompt(business_prompt: str, *, context: str = "", language: str = "") -> str:
    """The business's prompt (the default when it has none), the platform's guidance, the
    assistant's language, and the context of this conversation (who it is with, the memory)
    when there is any."""
    prompt = f"{business_prompt.strip() or DEFAULT_SYSTEM_PROMPT}\n\n{WHATSAPP_GUIDANCE}"
    if language.strip():
        prompt += (
            f"\n\nThe business writes in {language.strip()}: answer in it, unless the customer "
            "writes in another language; then answer in the customer's."
        )
    return f"{prompt}\n\n{context}" if context else prompt


def estimate_tokens(text: str) -> int:
    """A provider-independent estimate: ceil(characters / 4), at least 1 for a turn."""
    return max(1, math.ceil(len(text) / CHARACTERS_PER_TOKEN))


def model_request(
    message: CustomerMessage,
    *,
    business_prompt: str,
    history: History = NO_HISTORY,
    also: Sequence[CustomerMessage] = (),
    max_context_tokens: int = DEFAULT_MAX_CONTEXT_TOKENS,
    language: str = "",
    sight: Sight = NO_SIGHT,
    http_tools: Sequence[HttpTool] = (),
    grounding: Grounding | None = None,
    flows: Sequence[FlowDefinition] = (),
) -> ModelRequest:
    """The request answering `message` (after the customer's other unanswered messages `also`,
    oldest first), in the context of `history`, showing the model the images `sight` holds:
    the model must answer through a tool (a model without tools, like the offline one, answers
    in plain text, read as a text reply). `grounding`: what the assistant's knowledge bases gave
    (None when it has none); `flows`: the business's flows the model may start."""
    current = (*also, message)
    answering = {m.message_id for m in current}
    said = [s.message_id for s in history.turns]
    if answering <= set(said):
        # The history holds the burst: what was said from its first message on goes as it was
        # said (a business message between the customer's included), whatever it costs.
        first = min(said.index(i) for i in answering)
        last = max(said.index(i) for i in answering)
        now_said = [(s.message_id, s.turn) for s in history.turns[first : last + 1]]
        before = [s.turn for s in history.turns[:first]]
    else:
        now_said = [(m.message_id, Turn(CUSTOMER, what_the_customer_said(m))) for m in current]
        before = [s.turn for s in history.turns if s.message_id not in answering]
    by_id = {m.message_id: m for m in current}
    now = tuple(_as_seen(turn, by_id.get(i), sight) for i, turn in now_said)
    who = _who(history)
    left = max_context_tokens - sum(_turn_tokens(t) for t in now)
    left -= estimate_tokens(who) if who else 0
    knowledge = knowledge_block(grounding) if grounding is not None else ""
    left -= estimate_tokens(knowledge) if knowledge else 0
    memory = _memory(history.earlier, min(left, max_context_tokens // MEMORY_SHARE))
    left -= estimate_tokens(memory) if memory else 0
    kept = _newest_within(before, left)
    context = "\n\n".join(part for part in (who, memory, knowledge) if part)
    prompt = system_prompt(business_prompt, context=context, language=language)
    if http_tools:
        prompt = f"{prompt}\n\n{HTTP_TOOLS_GUIDANCE}"
    return ModelRequest(
        system_prompt=prompt,
        turns=tuple(_from_the_customer([*kept, *now])),
        tools=(
            reply_tool(seeing=bool(sight.seen), grounding=grounding),
            HAND_OFF_TOOL,
            *(Tool(t.name, t.description, t.parameters) for t in http_tools),
            *((start_flow_tool(flows),) if flows else ()),
            *((SEARCH_KNOWLEDGE_TOOL,) if grounding is not None else ()),
        ),
        require_tool=True,
        grounding=grounding,
        language=language.strip(),
    )


# Told to a model offered the business's HTTP tools (issue 12 item 2).
HTTP_TOOLS_GUIDANCE: Final = (
    "The business's own tools look things up and act in its systems: call them when the "
    "customer's request needs them, then answer with `reply` using what they gave. When a tool "
    "reports an error, tell the customer plainly that it did not work and offer a person; never "
    "say something was done when the tool did not confirm it."
)


def what_the_customer_said(message: CustomerMessage) -> str:
    """The message as the model reads it: its text, a map link for a location, the choice of a
    tapped option, the caption of a photo, or what kind of message came without text."""
    text = message.text.strip()
    if message.attachment is not None and message.type in MENTIONED_MEDIA:
        described = _described(message.attachment, text)
        if message.type == "image":
            return f"[image: {described}]"
        return f"[the customer sent {_a(message.type)}: {described}]"
    if message.type == "voice_transcribed":
        return f"[voice note] {text}"
    if message.type == "voice_unheard":
        return "[the customer sent a voice note that could not be heard]"
    if message.type == "location" and text:
        return f"[location: https://maps.google.com/?q={text.replace(' ', '')}]"
    if message.type in ("text", "button", "interactive") or message.choice is not None:
        return text or f"[the customer sent {message.type} without any text]"
    if text:
        return f"[the customer sent {message.type}: {text}]"
    return f"[the customer sent {message.type} without any text]"


# The media messages mentioned by their file (audio: a voice note reads as its transcript).
MENTIONED_MEDIA: Final = frozenset({"image", "video", "document", "sticker", "audio"})


def _as_seen(turn: Turn, message: CustomerMessage | None, sight: Sight) -> Turn:
    """A turn of the burst with its image shown, or said to be unseen and why."""
    if message is None or message.attachment is None:
        return turn
    described = _described(message.attachment, message.text)
    if (image := sight.seen.get(message.message_id)) is not None:
        return Turn(CUSTOMER, f"[the customer sent this image: {described}]", images=(image,))
    if (why := sight.unseen.get(message.message_id)) is not None:
        return Turn(CUSTOMER, f"[the customer sent a photo you cannot see ({why}): {described}]")
    return turn


def _described(attachment: Attachment, text: str) -> str:
    """A file by name, type and size, with its caption (the message's text) if any."""
    return f"{attachment.described()}{_caption(attachment.caption or text.strip())}"


def _caption(caption: str) -> str:
    return f', caption "{caption}"' if caption else ""


def _a(media_type: str) -> str:
    return f"an {media_type}" if media_type[:1] in "aeiou" else f"a {media_type}"


def _turn_tokens(turn: Turn) -> int:
    return estimate_tokens(turn.text) + IMAGE_TOKENS * len(turn.images)


def _who(history: History) -> str:
    if not (history.customer_name or history.business_number):
        return ""
    customer = f"the customer {history.customer_name}" if history.customer_name else "a customer"
    number = (
        f" (WhatsApp business number {history.business_number})" if history.business_number else ""
    )
    return f"You are talking with {customer} on behalf of the business{number}."


def _memory(conversations: Sequence[EarlierConversation], budget: int) -> str:
    """The newest earlier turns that fit `budget` with their headings, oldest first; "" when
    none fits."""
    cost = _part_cost(MEMORY_HEADING)
    blocks: list[str] = []
    for conversation in conversations:  # most recent first
        heading = f"Earlier conversation ({conversation.started_at:%Y-%m-%d}):"
        lines: list[str] = []
        spent = cost + _part_cost(heading)
        for turn in reversed(conversation.turns):
            line = f"{'customer' if turn.role == CUSTOMER else 'you'}: {turn.text}"
            if spent + _part_cost(line) > budget:
                break
            lines.insert(0, line)
            spent += _part_cost(line)
        if not lines:
            break
        blocks.insert(0, "\n".join((heading, *lines)))
        cost = spent
        if len(lines) < len(conversation.turns):
            break
    return "\n\n".join((MEMORY_HEADING, *blocks)) if blocks else ""


def _part_cost(part: str) -> int:
    """A part of the memory with the separator that follows it: the parts' costs add up to at
    least the whole block's estimate."""
    return estimate_tokens(part + "\n\n")


def _newest_within(turns: Sequence[Turn], budget: int) -> list[Turn]:
    kept: list[Turn] = []
    for turn in reversed(turns):
        cost = estimate_tokens(turn.text)
        if cost > budget:
            break
        kept.insert(0, turn)
        budget -= cost
    return kept


def _from_the_customer(turns: list[Turn]) -> list[Turn]:
    """The turns from the first of the customer's: a model's conversation opens with the user
    (the business's opening messages before it are dropped with the rest that did not fit)."""
    while turns and turns[0].role == ASSISTANT:
        turns = turns[1:]
    return turns
