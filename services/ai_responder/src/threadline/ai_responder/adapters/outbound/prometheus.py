"""What the AI responder counts for Prometheus (served on the ops port's `/metrics`): the
model's latency, tokens and cost of every generation (sent or superseded), drafts, and
hand-offs by kind of reason.

`CountedReplies` wraps the `Replies` port: an answer is counted once it was published (a
redelivered message's answer again, as its generation was paid again). The model label is
`provider:model` as configured (a few per deployment); a hand-off's reason is free text, so
it is counted by kind: `customer_asked`, `flow`, `empty_answer`, `unexplained`, `model` (the
model's own reason).
"""

from __future__ import annotations

from decimal import Decimal

from prometheus_client import Counter, Histogram

from threadline.ai_responder.application.flow_running import FLOW
from threadline.ai_responder.application.ports import Replies
from threadline.ai_responder.application.responder import KEYWORD_MODEL, NO_REASON
from threadline.ai_responder.domain.answers import (
    HAND_OFF_REASON,
    DiscardedGeneration,
    HandOffRequest,
    ReplyDraft,
    Usage,
)

MODEL_SECONDS = Histogram(
    "threadline_ai_model_seconds",
    "Time the model took to answer, by model (provider:model) and outcome (drafted, "
    "discarded: superseded by a newer message).",
    ["model", "outcome"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0),
)
TOKENS = Counter(
    "threadline_ai_tokens_total",
    "Tokens the models used, by model and kind (input, output, cached: of the input).",
    ["model", "kind"],
)
COST = Counter(
    "threadline_ai_cost_usd_total",
    "What the models' tokens cost in US dollars (as the price table knows them), by model.",
    ["model"],
)
UNPRICED = Counter(
    "threadline_ai_unpriced_generations_total",
    "Generations whose model the price table does not know (their cost is not in the total).",
    ["model"],
)
DRAFTS = Counter(
    "threadline_ai_drafts_total",
    "Replies drafted, by model (flow for a flow's, threadline:keyword-hand-off for the "
    "platform's own).",
    ["model"],
)
HAND_OFFS = Counter(
    "threadline_ai_hand_offs_total",
    "Conversations handed to a person, by kind of reason.",
    ["reason"],
)


def reason_kind(reason: str) -> str:
    if reason == HAND_OFF_REASON:
        return "customer_asked"
    if reason.startswith("flow "):
        return "flow"
    if reason.endswith("gave an empty answer"):
        return "empty_answer"
    if reason == NO_REASON:
        return "unexplained"
    return "model"


def model_label(model: str) -> str:
    """`provider:model`; every flow's drafts as one `flow` (flows are the business's, many)."""
    if model.startswith(f"{FLOW}:"):
        return FLOW
    return (model or "unknown")[:100]


def by_a_model(model: str) -> bool:
    return bool(model) and model != KEYWORD_MODEL and not model.startswith(f"{FLOW}:")


class CountedReplies:
    """`Replies` that counts what went out."""

    def __init__(self, inner: Replies) -> None:
        self._inner = inner

    async def reply_drafted(self, draft: ReplyDraft) -> None:
        await self._inner.reply_drafted(draft)
        model = model_label(draft.model)
        DRAFTS.labels(model).inc()
        if by_a_model(draft.model):
            generated(model, "drafted", draft.latency_seconds, draft.usage, draft.cost)

    async def hand_off_requested(self, request: HandOffRequest) -> None:
        await self._inner.hand_off_requested(request)
        HAND_OFFS.labels(reason_kind(request.reason)).inc()

    async def generation_discarded(self, discarded: DiscardedGeneration) -> None:
        await self._inner.generation_discarded(discarded)
        producer = discarded.producer
        if by_a_model(producer.model):
            model = model_label(producer.model)
            generated(model, "discarded", producer.latency_seconds, producer.usage, producer.cost)


def generated(model: str, outcome: str, seconds: float, usage: Usage, cost: Decimal | None) -> None:
    MODEL_SECONDS.labels(model, outcome).observe(max(seconds, 0.0))
    for kind, tokens in (
        ("input", usage.input_tokens),
        ("output", usage.output_tokens),
        ("cached", usage.cached_tokens),
    ):
        if tokens > 0:
            TOKENS.labels(model, kind).inc(tokens)
    if cost is None:
        if usage.input_tokens or usage.output_tokens:
            UNPRICED.labels(model).inc()
        return
    amount = float(cost)
    if amount > 0:
        COST.labels(model).inc(amount)
