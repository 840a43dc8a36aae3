"""`Idempotency-Key` answers: kept by one process without NATS (`LocalAnswers`), and shared by
every gateway process through NATS (`SharedAnswers`, over a real server) — a retry that reaches
another replica gets the first answer, and two replicas given the same key at once handle it
once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from uuid import uuid4

import aiohttp
import nats
import pytest
from aiohttp import web

from threadline.gateway.adapters.inbound.http.errors import errors_as_json
from threadline.gateway.adapters.inbound.http.idempotency import (
    ANSWER_STORE,
    CLAIM_SECONDS,
    Answer,
    AnswerStore,
    IdempotencyConflict,
    LocalAnswers,
    SharedAnswers,
    idempotent_posts,
)

FIRST = Answer(202, "application/json", b'{"id": "m-1"}')


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_settled_key_answers_the_same_request_with_the_first_answer() -> None:
    answers = LocalAnswers()
    assert await answers.claim("slot", "request") is None
    await answers.settle("slot", "request", FIRST)
    assert await answers.claim("slot", "request") == FIRST


async def test_the_same_key_for_another_request_is_a_conflict() -> None:
    answers = LocalAnswers()
    await answers.claim("slot", "request")
    await answers.settle("slot", "request", FIRST)
    with pytest.raises(IdempotencyConflict, match="another request"):
        await answers.claim("slot", "other request")


async def test_a_request_under_way_refuses_its_retry_until_released() -> None:
    answers = LocalAnswers()
    await answers.claim("slot", "request")
    with pytest.raises(IdempotencyConflict, match="still being answered"):
        await answers.claim("slot", "request")
    await answers.release("slot")
    assert await answers.claim("slot", "request") is None


async def test_an_abandoned_claim_is_taken_over_after_the_claim_time() -> None:
    clock = Clock()
    answers = LocalAnswers(clock=clock)
    await answers.claim("slot", "request")
    clock.now += CLAIM_SECONDS + 1
    assert await answers.claim("slot", "request") is None


async def test_the_oldest_keys_are_forgotten_past_the_limit() -> None:
    answers = LocalAnswers(limit=2)
    for slot in ("a", "b", "c"):
        await answers.claim(slot, "request")
        await answers.settle(slot, "request", FIRST)
    assert await answers.claim("a", "request") is None  # forgotten: handled anew
    assert await answers.claim("c", "request") == FIRST


async def test_an_answer_too_large_to_keep_is_not_kept() -> None:
    answers = LocalAnswers()
    await answers.claim("slot", "request")
    await answers.settle("slot", "request", Answer(200, "text/plain", b"x" * (300 * 1024)))
    assert await answers.claim("slot", "request") is None


@pytest.fixture
async def shared(nats_server_url: str) -> AsyncIterator[tuple[SharedAnswers, SharedAnswers]]:
    """Two processes' stores over one bucket (a fresh namespace each test)."""
    namespace = f"idem{uuid4().hex[:8]}"
    async with AsyncExitStack() as stack:
        stores = []
        for _ in range(2):
            client = await nats.connect(nats_server_url)
            stack.push_async_callback(client.close)
            stores.append(await SharedAnswers.open(client.jetstream(), namespace))
        yield stores[0], stores[1]
        await client.jetstream().delete_key_value(f"{namespace}_GATEWAY_IDEMPOTENCY")


@pytest.mark.integration
async def test_shared_answers_are_seen_by_another_process(
    shared: tuple[SharedAnswers, SharedAnswers],
) -> None:
    one, other = shared
    assert await one.claim("slot", "request") is None
    with pytest.raises(IdempotencyConflict, match="still being answered"):
        await other.claim("slot", "request")
    await one.settle("slot", "request", FIRST)
    assert await other.claim("slot", "request") == FIRST
    with pytest.raises(IdempotencyConflict, match="another request"):
        await other.claim("slot", "other request")


@pytest.mark.integration
async def test_a_released_shared_claim_may_be_claimed_again(
    shared: tuple[SharedAnswers, SharedAnswers],
) -> None:
    one, other = shared
    await one.claim("slot", "request")
    await one.release("slot")
    assert await other.claim("slot", "request") is None


@pytest.mark.integration
async def test_of_two_processes_claiming_at_once_exactly_one_holds_the_claim(
    shared: tuple[SharedAnswers, SharedAnswers],
) -> None:
    one, other = shared
    results = await asyncio.gather(
        *(store.claim(f"slot-{i}", "request") for i in range(20) for store in (one, other)),
        return_exceptions=True,
    )
    for pair in zip(results[::2], results[1::2], strict=True):
        assert sorted(type(r).__name__ for r in pair) == ["IdempotencyConflict", "NoneType"]


@pytest.mark.integration
async def test_a_dead_processes_shared_claim_is_taken_over(nats_server_url: str) -> None:
    clock = Clock()
    client = await nats.connect(nats_server_url)
    try:
        namespace = f"idem{uuid4().hex[:8]}"
        bucket = (await SharedAnswers.open(client.jetstream(), namespace))._bucket
        dead, alive = SharedAnswers(bucket, clock), SharedAnswers(bucket, clock)
        await dead.claim("slot", "request")
        clock.now += CLAIM_SECONDS + 1
        assert await alive.claim("slot", "request") is None
        await client.jetstream().delete_key_value(f"{namespace}_GATEWAY_IDEMPOTENCY")
    finally:
        await client.close()


@dataclass
class Replica:
    url: str
    handled: list[bytes]


async def _replica(stack: AsyncExitStack, store: AnswerStore, slow: asyncio.Event) -> Replica:
    """A gateway-shaped app (the real middlewares) whose one POST route counts its calls."""
    handled: list[bytes] = []

    async def send(request: web.Request) -> web.Response:
        handled.append(await request.read())
        await slow.wait()
        return web.json_response({"sent": len(handled)}, status=202)

    app = web.Application(middlewares=[errors_as_json, idempotent_posts])
    app[ANSWER_STORE] = store
    app.router.add_post("/send", send)
    runner = web.AppRunner(app)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return Replica(f"http://127.0.0.1:{runner.addresses[0][1]}", handled)


@pytest.mark.integration
async def test_a_retry_reaching_another_replica_is_answered_once(
    shared: tuple[SharedAnswers, SharedAnswers],
) -> None:
    ready = asyncio.Event()
    async with AsyncExitStack() as stack:
        a = await _replica(stack, shared[0], ready)
        b = await _replica(stack, shared[1], ready)
        http = await stack.enter_async_context(aiohttp.ClientSession())
        headers = {"Authorization": "Bearer caller", "Idempotency-Key": "k-1"}

        async def post(replica: Replica, body: str) -> tuple[int, str]:
            async with http.post(f"{replica.url}/send", data=body, headers=headers) as answer:
                return answer.status, await answer.text()

        first = asyncio.create_task(post(a, '{"text": "once"}'))
        while not a.handled:
            await asyncio.sleep(0.01)
        under_way = await post(b, '{"text": "once"}')  # while A still answers
        ready.set()
        answered = await first
        retried = await post(b, '{"text": "once"}')
        other = await post(b, '{"text": "twice"}')

    assert answered[0] == 202 and retried == answered
    assert under_way[0] == 409 and "still being answered" in under_way[1]
    assert other[0] == 409 and "another request" in other[1]
    assert len(a.handled) == 1 and b.handled == []
