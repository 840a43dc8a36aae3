"""Benchmark: the assistant's path (issue 10), with a local OpenAI-protocol server answering
every request in a fixed time, through the platform as `threadline up` runs it.

Overhead: C conversations in parallel, each R rounds of a burst of B messages (posted one after
another) and a wait for the reply at the sandbox. What the platform adds is the time from the
last message's 200 to the reply at the sandbox, minus the reply delay it must wait and the
model's fixed time: p50 and p99, at 50 and 500 conversations.

Tokens per reply: one conversation of 200 customer messages, each answered before the next; the
size of every request the model received (all of its messages' characters / 4, the estimate
the context budget uses), at chosen points: it must level off at the budget.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
from openai import AsyncOpenAI

from tests.bench.percentiles import percentile
from tests.bench.platform import RunningPlatform
from tests.bench.replies import ReplyFollower
from threadline.ai_responder.adapters.outbound.models.openai_model import OpenAIModel
from threadline.ai_responder.application.model_request import (
    HAND_OFF_TOOL,
    REPLY_TOOL,
    SEARCH_KNOWLEDGE_TOOL,
)
from threadline.ai_responder.application.ports import ASSISTANT, CUSTOMER, ModelRequest, Turn
from threadline.sandbox.customer import build_inbound_text
from threadline.sandbox.signing import sign
from threadline.testing.model_servers import OpenAIServer, SlowAnswer, TextAnswer

MODEL_SECONDS = 0.2
REPLY_DELAY = 1.0
NUMBER = "109000000000001"


def assistant_env(server: OpenAIServer) -> dict[str, str]:
    """The platform's default assistant on `server`, waiting `REPLY_DELAY` per burst."""
    return {
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_API_KEY": "sk-bench",
        "THREADLINE_AI_MODEL": "openai:bench-model",
        "THREADLINE_AI_REPLY_DELAY_SECONDS": str(REPLY_DELAY),
    }


def answers(server: OpenAIServer, n: int) -> None:
    server.script(
        *(SlowAnswer(MODEL_SECONDS, TextAnswer("Of course! Anything else?")) for _ in range(n))
    )


@dataclass
class OverheadFigures:
    conversations: int
    samples: int
    p50_ms: float
    p99_ms: float
    replies_per_s: float
    model_requests: int = 0  # requests the model server answered in the phase


@dataclass
class ClientFigures:
    """CPU per model request in this process (client and the local server together), the
    responder's way and through `chat.completions.create` with the same body."""

    requests: int
    turns: int
    tools: int
    ours_ms: float
    create_ms: float


@dataclass
class TokenFigures:
    budget: int
    tokens_at: list[tuple[int, int]]  # (customer messages so far, estimated tokens sent)


class Customers:
    def __init__(
        self, platform: RunningPlatform, http: aiohttp.ClientSession, replies: ReplyFollower
    ) -> None:
        self.platform, self.http, self.replies = platform, http, replies

    async def post(self, wa_id: str, text: str) -> float:
        state = self.platform.state
        body = json.dumps(
            build_inbound_text(
                NUMBER, "15550000000", wa_id, "Bench", text, timestamp=datetime.now(UTC)
            )
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(body, state.secrets.app_secret),
        }
        async with self.http.post(state.webhook_url, data=body, headers=headers) as response:
            if response.status != 200:
                raise RuntimeError(f"ingest answered {response.status}: {await response.text()}")
        return time.time()

    def replies_to(self, wa_id: str) -> list[datetime]:
        return self.replies.replies_to(wa_id)

    async def reply(self, wa_id: str, seen: int) -> datetime:
        return await self.replies.next_reply(wa_id, seen)


async def overhead(
    customers: Customers, *, conversations: int, rounds: int, burst: int, run: str
) -> OverheadFigures:
    samples: list[float] = []

    async def conversation(c: int) -> None:
        wa_id = f"1888{run}{conversations:03d}{c:05d}"
        for r in range(rounds):
            seen = len(customers.replies_to(wa_id))
            for k in range(burst):
                last = await customers.post(wa_id, f"round {r} part {k}: a question")
            replied = await customers.reply(wa_id, seen)
            samples.append((replied.timestamp() - last - REPLY_DELAY - MODEL_SECONDS) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(conversation(c) for c in range(conversations)))
    elapsed = time.perf_counter() - started
    return OverheadFigures(
        conversations=conversations,
        samples=len(samples),
        p50_ms=percentile(samples, 0.50),
        p99_ms=percentile(samples, 0.99),
        replies_per_s=len(samples) / elapsed,
    )


def request_tokens(body: dict[str, object]) -> int:
    """The request's messages as the context budget estimates them (characters / 4)."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return 0
    characters = sum(len(str(m.get("content", ""))) for m in messages if isinstance(m, dict))
    return math.ceil(characters / 4)


async def tokens_per_reply(
    customers: Customers, server: OpenAIServer, *, messages: int, run: str
) -> list[tuple[int, int]]:
    wa_id = f"1999{run}0000001"
    first = len(server.requests)
    for k in range(messages):
        seen = len(customers.replies_to(wa_id))
        await customers.post(wa_id, f"message {k}: " + "tell me more about your prices " * 3)
        await customers.reply(wa_id, seen)
    sizes = [request_tokens(r.body) for r in server.requests[first:]]
    points = [1, 10, 25, 50, 100, 150, 200]
    return [(n, sizes[n - 1]) for n in points if n <= len(sizes)]


def typical_request(turns: int) -> ModelRequest:
    """A request as the responder sends one late in a conversation: a system prompt with the
    formatting guidance's size, `turns` turns, and the tools it offers with knowledge."""
    return ModelRequest(
        system_prompt="You are the assistant of Lina's Hair Salon. Be brief. " * 30,
        turns=tuple(
            Turn(CUSTOMER if k % 2 == 0 else ASSISTANT, f"turn {k}: " + "prices and hours " * 20)
            for k in range(turns)
        ),
        tools=(REPLY_TOOL, HAND_OFF_TOOL, SEARCH_KNOWLEDGE_TOOL),
        require_tool=True,
        max_output_tokens=400,
    )


async def model_client_cpu(server: OpenAIServer, *, requests: int, turns: int) -> ClientFigures:
    """The model client's own CPU per request, compared with the SDK's `create` in the same run:
    both ask the same local server the same thing, so the difference is the client's."""
    request = typical_request(turns)
    client = AsyncOpenAI(base_url=server.base_url, api_key="sk-bench", max_retries=0)
    model = OpenAIModel(client, "bench-model")

    async def ours() -> None:
        await model.generate(request)

    async def create() -> None:
        # The very body the adapter sent (read back from the server), through `create`.
        await client.chat.completions.create(**body)  # type: ignore[call-overload]

    async def cpu_ms(call: Callable[[], Awaitable[None]]) -> float:
        await call()  # warm: connection, caches
        started = time.process_time()
        for _ in range(requests):
            await call()
        return (time.process_time() - started) / requests * 1000

    server.script(*(TextAnswer("ok") for _ in range(4 * requests + 9)))
    try:
        await ours()
        body = server.requests[-1].body
        # Interleaved twice, so a noisy neighbour weighs on both ways alike.
        ours_ms, create_ms = [], []
        for _ in range(2):
            ours_ms.append(await cpu_ms(ours))
            create_ms.append(await cpu_ms(create))
    finally:
        await client.close()
    return ClientFigures(
        requests=requests,
        turns=turns,
        tools=len(request.tools),
        ours_ms=min(ours_ms),
        create_ms=min(create_ms),
    )


async def run_assistant_benchmark(
    platform: RunningPlatform,
    server: OpenAIServer,
    *,
    parallel: tuple[int, ...],
    rounds: int,
    burst: int,
    long_conversation: int,
) -> tuple[list[OverheadFigures], list[tuple[int, int]]]:
    run = f"{int(time.time()) % 100:02d}"
    # Room for more requests than replies: a generation overtaken by a customer's next message
    # is asked again (and with several responders a burst's messages may be heard apart).
    answers(server, 2 * (sum(parallel) * rounds + long_conversation) + 200)
    limit = max(parallel) + 8
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit)) as http,
        ReplyFollower(platform.sandbox.outbox).running() as replies,
    ):
        customers = Customers(platform, http, replies)
        await overhead(customers, conversations=10, rounds=1, burst=1, run="0" + run[:1])
        figures = []
        for n in parallel:
            asked = len(server.requests)
            phase = await overhead(customers, conversations=n, rounds=rounds, burst=burst, run=run)
            phase.model_requests = len(server.requests) - asked
            figures.append(phase)
        tokens = await tokens_per_reply(customers, server, messages=long_conversation, run=run)
    return figures, tokens
